// CModloadLinux is header-only (static inline functions); SwiftPM wants a source file.
#include "CModloadLinux.h"
