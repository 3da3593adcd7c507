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
/// | [Double], [Int], [Bool] | UInt64 element count, then the elements |
/// | Matrix | rows and columns as Int, then rows x columns Doubles, row-major |
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
    /// Overwrites the entries with `values` (`count` of them, row-major); for restoring checkpoints.
    func assign(_ values: [Double]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        guard count > 0 else { return }
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }
}
