// CModloadABI is the module-file ABI: one header (include/modload.h). SwiftPM wants a source file.
#include "modload.h"
