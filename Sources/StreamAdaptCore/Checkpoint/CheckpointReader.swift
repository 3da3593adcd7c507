/// Reads the values a ``CheckpointWriter`` wrote, in the same order. Every read checks that the bytes
/// are there and throws ``CheckpointError`` (`truncated`, `corrupt`, `shapeMismatch`) otherwise; a
/// reader never traps on bad input.
public struct CheckpointReader: Sendable {
    public let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    /// A reader over a payload (as returned by ``Checkpoint/open(_:)``).
    public init(_ payload: [UInt8]) {
        bytes = payload
        offset = 0
    }

    /// A reader over the payload of sealed checkpoint bytes: `CheckpointReader(Checkpoint.open(sealed))`.
    public init(sealed: [UInt8]) throws(CheckpointError) {
        self.init(try Checkpoint.open(sealed))
    }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - offset }

    /// Throws unless every byte has been read (call after the last field).
    public func finish() throws(CheckpointError) {
        if remaining != 0 { throw .corrupt(nil, "\(remaining) unread bytes after the last field") }
    }

    public mutating func readUInt8() throws(CheckpointError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBool() throws(CheckpointError) -> Bool {
        let at = offset
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let v: throw .corrupt(nil, "byte \(v) at offset \(at) is not a Bool")
        }
    }

    public mutating func readUInt32() throws(CheckpointError) -> UInt32 { try readLittleEndian(UInt32.self) }

    public mutating func readUInt64() throws(CheckpointError) -> UInt64 { try readLittleEndian(UInt64.self) }

    public mutating func readInt() throws(CheckpointError) -> Int {
        let v = try readLittleEndian(Int64.self)
        guard let i = Int(exactly: v) else { throw .corrupt(nil, "\(v) does not fit an Int") }
        return i
    }

    public mutating func readDouble() throws(CheckpointError) -> Double {
        Double(bitPattern: try readLittleEndian(UInt64.self))
    }

    public mutating func readString() throws(CheckpointError) -> String {
        let n = try readCount(elementSize: 1)
        let utf8 = bytes[offset..<(offset + n)]
        guard let s = String(validating: utf8, as: UTF8.self) else {
            throw .corrupt(nil, "invalid UTF-8 string at offset \(offset)")
        }
        offset += n
        return s
    }

    public mutating func readOptionalDouble() throws(CheckpointError) -> Double? {
        try readBool() ? try readDouble() : nil
    }

    public mutating func readOptionalString() throws(CheckpointError) -> String? {
        try readBool() ? try readString() : nil
    }

    public mutating func readOptionalInt() throws(CheckpointError) -> Int? {
        try readBool() ? try readInt() : nil
    }

    /// A [Double]; with `count`, throws `shapeMismatch` naming `field` when the stored count differs.
    public mutating func readDoubles(count expected: Int? = nil, field: String = "doubles") throws(CheckpointError)
        -> [Double]
    {
        let n = try readCount(elementSize: 8, expected: expected, field: field)
        return readDoubleValues(n)
    }

    public mutating func readInts(count expected: Int? = nil, field: String = "ints") throws(CheckpointError) -> [Int] {
        let n = try readCount(elementSize: 8, expected: expected, field: field)
        var out: [Int] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readInt()) }
        return out
    }

    public mutating func readBools(count expected: Int? = nil, field: String = "bools") throws(CheckpointError) -> [Bool] {
        let n = try readCount(elementSize: 1, expected: expected, field: field)
        var out: [Bool] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readBool()) }
        return out
    }

    /// The entries of a stored matrix that must be `rows` x `columns` (else `shapeMismatch` naming `field`).
    public mutating func readMatrix(rows: Int, columns: Int, field: String) throws(CheckpointError) -> [Double] {
        let storedRows = try readInt()
        let storedColumns = try readInt()
        guard storedRows == rows, storedColumns == columns else {
            throw .shape(field, expected: "\(rows) x \(columns)", found: "\(storedRows) x \(storedColumns)")
        }
        let n = rows * columns
        try need(n * 8)
        return readDoubleValues(n)
    }

    /// The entries of a stored matrix with the shape of `like` (which is not modified).
    public mutating func readMatrix(like matrix: Matrix, field: String) throws(CheckpointError) -> [Double] {
        try readMatrix(rows: matrix.rows, columns: matrix.columns, field: field)
    }

    /// The n (n + 1) / 2 entries of a stored upper triangle (see ``CheckpointWriter/writeUpperTriangle(_:)``)
    /// of an n x n matrix, row by row (else `shapeMismatch` naming `field`).
    public mutating func readUpperTriangle(dimension n: Int, field: String) throws(CheckpointError) -> [Double] {
        try expectShape(n, field: field)
        let count = n * (n + 1) / 2
        try need(count * 8)
        return readDoubleValues(count)
    }

    /// The n (n + 1) / 2 Float32 entries of a stored upper triangle, row by row.
    public mutating func readFloatUpperTriangle(dimension n: Int, field: String) throws(CheckpointError) -> [Float] {
        try expectShape(n, field: field)
        let count = n * (n + 1) / 2
        try need(count * 4)
        var out = [Float](repeating: 0, count: count)
        for k in 0..<count { out[k] = Float(bitPattern: try readUInt32()) }
        return out
    }

    /// A [Float] written by ``CheckpointWriter/writeFloats(_:)``; with `count`, throws `shapeMismatch`
    /// naming `field` when the stored count differs.
    public mutating func readFloats(count expected: Int? = nil, field: String = "floats") throws(CheckpointError) -> [Float] {
        let n = try readCount(elementSize: 4, expected: expected, field: field)
        var out = [Float](repeating: 0, count: n)
        for k in 0..<n { out[k] = Float(bitPattern: try readUInt32()) }
        return out
    }

    /// Reads an Int that must equal `expected` (a dimension or count): else `shapeMismatch` naming `field`.
    mutating func expectShape(_ expected: Int, field: String) throws(CheckpointError) {
        let v = try readInt()
        if v != expected { throw .shape(field, expected: "\(expected)", found: "\(v)") }
    }

    /// Reads a section tag and throws `corrupt` unless it is `tag`.
    mutating func expectSection(_ tag: String) throws(CheckpointError) {
        let at = offset
        let found: String
        do { found = try readString() } catch {
            if error.code == .truncated { throw error }
            throw .corrupt(tag, "missing section \"\(tag)\" at offset \(at)")
        }
        if found != tag { throw .corrupt(tag, "expected section \"\(tag)\" at offset \(at), found \"\(found.prefix(64))\"") }
    }

    mutating func skip(_ n: Int) throws(CheckpointError) {
        try need(n)
        offset += n
    }

    private func need(_ n: Int) throws(CheckpointError) {
        if n < 0 || n > remaining { throw .truncated(needed: n, at: offset, available: remaining) }
    }

    /// A UInt64 count of elements of `elementSize` bytes that must all be present.
    private mutating func readCount(elementSize: Int, expected: Int? = nil, field: String = "count") throws(CheckpointError)
        -> Int
    {
        let stored = try readUInt64()
        if let expected, stored != UInt64(expected) {
            throw .shape(field, expected: "\(expected) entries", found: "\(stored) entries")
        }
        guard stored <= UInt64(remaining / elementSize) else {
            throw .truncated(
                needed: stored > UInt64(Int.max / elementSize) ? Int.max : Int(stored) * elementSize, at: offset,
                available: remaining)
        }
        return Int(stored)
    }

    private mutating func readLittleEndian<T: FixedWidthInteger>(_ type: T.Type) throws(CheckpointError) -> T {
        let size = MemoryLayout<T>.size
        try need(size)
        let raw = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: raw)
    }

    /// `n` Doubles whose bytes are known to be present.
    private mutating func readDoubleValues(_ n: Int) -> [Double] {
        let start = offset
        offset += n * 8
        return [Double](unsafeUninitializedCapacity: n) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                #if _endian(little)
                    if n > 0 {
                        UnsafeMutableRawBufferPointer(buffer).copyMemory(
                            from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + n * 8)]))
                    }
                #else
                    for i in 0..<n {
                        let bits = raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self)
                        buffer[i] = Double(bitPattern: UInt64(littleEndian: bits))
                    }
                #endif
            }
            initialized = n
        }
    }
}
