extension ZeroShotHead: ClassGrowingHead {
    /// Appends the row t^ to the class embeddings: the new class's logit is tau t^' x.
    public func appendClass(from classes: ClassEmbeddings) {
        precondition(classes.count == classCount + 1 && classes.dimension == dimension)
        let t = UnsafePointer(classes.normalized.row(classCount))
        let grown = self.classes.appendingRows(1)
        grown.row(classCount).update(from: t, count: dimension)
        self.classes = grown
        classCount += 1
    }
}
