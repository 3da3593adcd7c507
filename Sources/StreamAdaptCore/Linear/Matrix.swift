/// A dense, row-major Float64 matrix (or vector, with one column) that owns its memory.
///
/// Heads keep their state and their per-event scratch space in `Matrix` values allocated once,
/// so that predicting and learning an event allocates nothing. The storage is a raw pointer so
/// that it can be handed to OpenBLAS without copies or exclusivity checks.
public final class Matrix {
    public let rows: Int
    public let columns: Int
    public let pointer: UnsafeMutablePointer<Double>

    public var count: Int { rows * columns }

    /// A `rows` x `columns` matrix filled with `value`.
    public init(rows: Int, columns: Int, value: Double = 0) {
        precondition(rows >= 0 && columns >= 0)
        self.rows = rows
        self.columns = columns
        pointer = .allocate(capacity: max(1, rows * columns))
        pointer.initialize(repeating: value, count: max(1, rows * columns))
    }

    /// A matrix holding a copy of `values`, which must have `rows * columns` entries (row-major).
    public convenience init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "expected \(rows * columns) values, got \(values.count)")
        self.init(rows: rows, columns: columns)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A copy of `other`.
    public convenience init(copying other: Matrix) {
        self.init(rows: other.rows, columns: other.columns)
        pointer.update(from: other.pointer, count: count)
    }

    deinit { pointer.deallocate() }

    @inlinable public subscript(row: Int, column: Int) -> Double {
        get { pointer[row * columns + column] }
        set { pointer[row * columns + column] = newValue }
    }

    @inlinable public subscript(index: Int) -> Double {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// Pointer to the first entry of `row`.
    @inlinable public func row(_ row: Int) -> UnsafeMutablePointer<Double> { pointer + row * columns }

    /// Overwrites every entry with `value`.
    public func fill(_ value: Double) { pointer.update(repeating: value, count: count) }

    /// Overwrites this matrix with the entries of `other` (same shape).
    public func copy(from other: Matrix) {
        precondition(other.rows == rows && other.columns == columns)
        pointer.update(from: other.pointer, count: count)
    }

    /// The entries as a Swift array (allocates; for tests, checkpoints and reports).
    public var array: [Double] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
