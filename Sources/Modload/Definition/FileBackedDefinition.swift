/// A definition whose code lives in a mapped module file: how the host core hands the file's
/// image over without knowing module files (they adopt this; the core names only it). The core
/// calls it at the two moments the image changes hands: a record takes the definition, and the
/// module is gone.
protocol FileBackedDefinition: ModuleDefinition {
    /// The module file it was loaded from, as the caller named it.
    var filePath: String { get }

    /// A record now holds this definition: from now on the host releases the image when the
    /// module is gone (and the file load no longer does).
    func claim()

    /// The module is gone (exit ran, or its load failed) and unlinked: releases the image once a
    /// grace period has passed — keeping it mapped if references outlived the module — before
    /// returning what became of the code.
    func release(referencesRemain: Bool) async -> ImageRelease
}
