// The README's module-author block (the one importing ModloadModule), compiled as a library so it
// cannot drift from ModloadModule's API; generated at build time by Tests/ReadmeTour/Plugin.
