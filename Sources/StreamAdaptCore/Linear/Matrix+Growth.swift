extension Matrix {
    /// A new matrix with this one's rows followed by `extra` rows filled with `value` (allocates: for
    /// class changes, never per event).
    func appendingRows(_ extra: Int, value: Double = 0) -> Matrix {
        let grown = Matrix(rows: rows + extra, columns: columns, value: value)
        grown.pointer.update(from: pointer, count: count)
        return grown
    }

    /// A new `rows + extraRows` x `columns + extraColumns` matrix with this one in its top left corner
    /// and `value` elsewhere.
    func growing(rows extraRows: Int, columns extraColumns: Int, value: Double = 0) -> Matrix {
        let grown = Matrix(rows: rows + extraRows, columns: columns + extraColumns, value: value)
        for r in 0..<rows { grown.row(r).update(from: row(r), count: columns) }
        return grown
    }
}
