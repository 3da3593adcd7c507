extension ClipoodHead: ClassGrowingHead {
    /// Appends a class as the constructor starts one: its row of W and of the moving average W-bar is
    /// t^, and the margins gain the row and column m_{new,j} = m_{j,new} = margin (1 - t^' t^_j) (0 on
    /// the diagonal); the margins between existing classes are unchanged.
    public func appendClass(from classes: ClassEmbeddings) {
        precondition(classes.count == classCount + 1 && classes.dimension == dimension)
        let c = classCount
        let t = classes.normalized.row(c)
        let grownWeights = weights.appendingRows(1)
        grownWeights.row(c).update(from: t, count: dimension)
        let grownAverage = averageWeights.appendingRows(1)
        grownAverage.row(c).update(from: t, count: dimension)
        let grownMargins = margins.growing(rows: 1, columns: 1)
        for j in 0..<c {
            let m = configuration.margin * (1 - BLAS.dot(dimension, t, classes.normalized.row(j)))
            grownMargins[c, j] = m
            grownMargins[j, c] = m
        }
        weights = grownWeights
        averageWeights = grownAverage
        margins = grownMargins
        classCount += 1
        retired.append(false)
        trainLogits = Matrix(rows: classCount, columns: 1)
    }

    /// Leaves class `c` out of the training softmax from now on (its row of W keeps what it learned).
    public func retireClass(_ c: Int) {
        precondition(c >= 0 && c < classCount)
        retired[c] = true
    }
}
