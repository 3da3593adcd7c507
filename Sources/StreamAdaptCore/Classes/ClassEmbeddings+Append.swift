extension ClassEmbeddings {
    /// This set with one more class, `name` with the already L2-normalised row `t` (``dimension``
    /// entries), at index ``count``. Allocates (class changes only).
    func appending(name: String, normalized t: UnsafePointer<Double>) -> ClassEmbeddings {
        let grown = normalized.appendingRows(1)
        grown.row(count).update(from: t, count: dimension)
        return ClassEmbeddings(names: names + [name], normalized: grown)
    }
}
