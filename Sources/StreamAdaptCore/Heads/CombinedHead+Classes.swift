extension CombinedHead: ClassGrowingHead {
    /// Appends the class to every part (each must be a ``ClassGrowingHead``; the built-in heads all are).
    public func appendClass(from classes: ClassEmbeddings) {
        for part in parts {
            guard let growing = part as? any ClassGrowingHead else {
                preconditionFailure("\(part.name) cannot take new classes")
            }
            growing.appendClass(from: classes)
        }
        classCount += 1
        scratch = Matrix(rows: classCount, columns: 1)
    }

    /// Tells every part that can grow.
    public func retireClass(_ c: Int) {
        for part in parts { (part as? any ClassGrowingHead)?.retireClass(c) }
    }

    /// Whether every part can take new classes.
    var canGrowClasses: Bool { parts.allSatisfy { $0 is any ClassGrowingHead } }
}
