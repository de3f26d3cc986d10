// The README's API tour as a program: `main.swift` is generated from the ```swift blocks of
// README.md at build time (Tests/ReadmeTour/Plugin), and ReadmeTourTests runs it in a folder
// holding the module files the tour loads. Nothing else belongs in this target.
