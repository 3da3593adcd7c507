/// Appends values to a checkpoint payload in a fixed little-endian binary encoding; a
/// ``CheckpointReader`` reads them back in the same order.
///
/// | value | encoding |
/// |---|---|
/// | UInt8, Bool | 1 byte (Bool: 0 or 1) |
/// | UInt32, UInt64 | 4, 8 bytes, little-endian |
/// | Int | 8 bytes: Int64, little-endian two's complement |
/// | Double | 8 bytes: the IEEE-754 bit pattern as a little-endian UInt64 (exact, NaN payloads included) |
/// | String | UInt64 byte count, then the UTF-8 bytes |
/// | [Double], [Int], [Bool], [Float] | UInt64 element count, then the elements (Float: 4-byte bit pattern) |
/// | Matrix | rows and columns as Int, then rows x columns Doubles, row-major |
/// | upper triangle of an n x n matrix | n as Int, then n (n + 1) / 2 values (Double, or Float32 as its IEEE-754 bit pattern, 4 bytes), row by row from the diagonal |
/// | Double?, Int? | Bool (present), then the value when present |
///
/// There is no self-description: the layout is fixed by the order of the writes (each model part
/// starts with a section tag that the reader checks, so a layout slip is reported, not misread).
public struct CheckpointWriter: Sendable {
    /// The payload written so far.
    public private(set) var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func writeUInt32(_ value: UInt32) { appendLittleEndian(value) }

    public mutating func writeUInt64(_ value: UInt64) { appendLittleEndian(value) }

    /// An Int, as a little-endian Int64.
    public mutating func writeInt(_ value: Int) { appendLittleEndian(Int64(value)) }

    /// A Double, as its exact bit pattern.
    public mutating func writeDouble(_ value: Double) { appendLittleEndian(value.bitPattern) }

    /// A String: UInt64 UTF-8 byte count, then the bytes.
    public mutating func writeString(_ value: String) {
        let utf8 = Array(value.utf8)
        writeUInt64(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    public mutating func writeOptionalDouble(_ value: Double?) {
        writeBool(value != nil)
        if let value { writeDouble(value) }
    }

    public mutating func writeOptionalString(_ value: String?) {
        writeBool(value != nil)
        if let value { writeString(value) }
    }

    public mutating func writeOptionalInt(_ value: Int?) {
        writeBool(value != nil)
        if let value { writeInt(value) }
    }

    /// UInt64 count, then the values.
    public mutating func writeDoubles(_ values: [Double]) {
        writeUInt64(UInt64(values.count))
        values.withUnsafeBufferPointer { appendDoubles($0) }
    }

    /// UInt64 count, then the values as Int64.
    public mutating func writeInts(_ values: [Int]) {
        writeUInt64(UInt64(values.count))
        for v in values { writeInt(v) }
    }

    /// UInt64 count, then one byte per value.
    public mutating func writeBools(_ values: [Bool]) {
        writeUInt64(UInt64(values.count))
        for v in values { writeBool(v) }
    }

    /// The matrix's rows and columns (as Int), then its entries row-major.
    public mutating func writeMatrix(_ matrix: Matrix) {
        writeInt(matrix.rows)
        writeInt(matrix.columns)
        appendDoubles(UnsafeBufferPointer(start: matrix.pointer, count: matrix.count))
    }

    /// The upper triangle (diagonal included) of the square matrix `matrix`: n, then row i's entries
    /// i..<n for each row. The strictly lower triangle is not stored (symmetric matrices are stored and
    /// updated as their upper triangle).
    public mutating func writeUpperTriangle(_ matrix: Matrix) {
        precondition(matrix.rows == matrix.columns, "not square")
        let n = matrix.rows
        writeInt(n)
        for i in 0..<n { appendDoubles(UnsafeBufferPointer(start: matrix.pointer + i * n + i, count: n - i)) }
    }

    /// The upper triangle of the square n x n Float32 matrix at `pointer` (row-major), as Float32.
    public mutating func writeUpperTriangle(_ pointer: UnsafePointer<Float>, dimension n: Int) {
        writeInt(n)
        for i in 0..<n {
            for j in i..<n { appendLittleEndian(pointer[i * n + j].bitPattern) }
        }
    }

    /// UInt64 count, then the Float32 values as 4-byte little-endian bit patterns.
    public mutating func writeFloats(_ values: UnsafeBufferPointer<Float>) {
        writeUInt64(UInt64(values.count))
        for v in values { appendLittleEndian(v.bitPattern) }
    }

    /// Bytes as they are, without a length (for the container and for nesting sealed data).
    public mutating func writeRawBytes(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// A section tag (a String) that ``CheckpointReader/expectSection(_:)`` checks on the way back.
    mutating func writeSection(_ tag: String) { writeString(tag) }

    private mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func appendDoubles(_ values: UnsafeBufferPointer<Double>) {
        #if _endian(little)
            bytes.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
            for v in values { appendLittleEndian(v.bitPattern) }
        #endif
    }
}

extension Matrix {
    /// Overwrites the upper triangle (diagonal included) of this square matrix with `values`, row by
    /// row, as read by ``CheckpointReader/readUpperTriangle(dimension:field:)``; the strictly lower
    /// triangle is set to zero.
    func assignUpperTriangle(_ values: [Double]) {
        let n = rows
        precondition(rows == columns && values.count == n * (n + 1) / 2, "expected an upper triangle of \(n) x \(n)")
        var k = 0
        for i in 0..<n {
            for j in 0..<i { self[i, j] = 0 }
            for j in i..<n {
                self[i, j] = values[k]
                k += 1
            }
        }
    }

    /// Overwrites the entries with `values` (`count` of them, row-major); for restoring checkpoints.
    func assign(_ values: [Double]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        guard count > 0 else { return }
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }
}
