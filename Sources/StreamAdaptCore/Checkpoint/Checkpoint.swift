/// The checkpoint container: a versioned, checksummed envelope around a payload produced by a
/// ``CheckpointWriter`` (see `docs/checkpoints.md`).
///
///     offset  size  content
///     0       8     magic "SADAPT" 0x00 0x01
///     8       4     format version, UInt32 little-endian (``formatVersion``)
///     12      8     payload length n, UInt64 little-endian
///     20      n     payload
///     20 + n  4     CRC-32 (IEEE 802.3, as zlib) of the payload, UInt32 little-endian
///
/// ``open(_:)`` refuses anything else: a different magic, a different version (older or newer: there
/// is no silent migration), a length that does not match the byte count, or a checksum mismatch.
public enum Checkpoint {
    /// The 8 magic bytes that start every checkpoint: "SADAPT", 0, 1.
    public static let magic: [UInt8] = [0x53, 0x41, 0x44, 0x41, 0x50, 0x54, 0x00, 0x01]
    /// The format version written by this build; the only one it reads.
    public static let formatVersion: UInt32 = 4
    /// Bytes before the payload (magic, version, length).
    public static let headerSize = 20
    /// Bytes after the payload (CRC-32).
    public static let trailerSize = 4

    /// Wraps `payload` in the container.
    public static func seal(payload: [UInt8]) -> [UInt8] {
        seal(payload: payload, version: formatVersion)
    }

    /// Wraps `payload` with an arbitrary version number (for tests of the version check).
    static func seal(payload: [UInt8], version: UInt32) -> [UInt8] {
        var out = CheckpointWriter(reservingCapacity: headerSize + payload.count + trailerSize)
        out.writeRawBytes(magic)
        out.writeUInt32(version)
        out.writeUInt64(UInt64(payload.count))
        out.writeRawBytes(payload)
        out.writeUInt32(crc32(payload))
        return out.bytes
    }

    /// Checks the container and returns its payload.
    /// - Throws: ``CheckpointError`` with code `wrongMagic`, `unsupportedVersion`, `truncated`, `corrupt`
    ///   (bytes after the checksum) or `checksumMismatch`, in that order of checking.
    public static func open(_ bytes: [UInt8]) throws(CheckpointError) -> [UInt8] {
        let prefix = min(bytes.count, magic.count)
        guard bytes[0..<prefix].elementsEqual(magic[0..<prefix]) else {
            throw CheckpointError(code: .wrongMagic, message: "the bytes do not start with the StreamAdapt checkpoint magic")
        }
        var header = CheckpointReader(bytes)
        guard bytes.count >= headerSize else {
            throw .truncated(needed: headerSize, at: 0, available: bytes.count)
        }
        try header.skip(magic.count)
        let version = try header.readUInt32()
        guard version == formatVersion else {
            throw CheckpointError(
                code: .unsupportedVersion,
                message: "format version \(version); this build reads version \(formatVersion) only")
        }
        let declared = try header.readUInt64()
        let available = bytes.count - headerSize
        guard declared <= UInt64(Int.max - trailerSize), Int(declared) + trailerSize <= available else {
            throw .truncated(
                needed: declared > UInt64(Int.max - trailerSize) ? Int.max : Int(declared) + trailerSize, at: headerSize,
                available: available)
        }
        let length = Int(declared)
        guard length + trailerSize == available else {
            throw .corrupt(nil, "\(available - length - trailerSize) unexpected bytes after the checksum")
        }
        let payload = Array(bytes[headerSize..<(headerSize + length)])
        try header.skip(length)
        let stored = try header.readUInt32()
        let actual = crc32(payload)
        guard stored == actual else {
            throw CheckpointError(
                code: .checksumMismatch,
                message: "stored CRC-32 \(hex(stored)), computed \(hex(actual)): the checkpoint is damaged")
        }
        return payload
    }

    /// CRC-32 (IEEE 802.3 polynomial 0xEDB88320 reflected, initial and final XOR 0xFFFFFFFF: the zlib,
    /// PNG and gzip CRC) of `bytes`. crc32("123456789") = 0xCBF43926.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { crc32(UnsafeRawBufferPointer($0)) }
    }

    /// CRC-32 of raw bytes; `initial` continues a previous result (crc32(a + b) = crc32(b, initial: crc32(a))).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        crc32Table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }

    /// 64-bit FNV-1a of the bit patterns (little-endian) of `values`: the fingerprint of constant
    /// matrices (class embeddings, projections) that a model is rebuilt from rather than restored.
    static func fingerprint(_ values: UnsafeBufferPointer<Double>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in values {
            var bits = v.bitPattern
            for _ in 0..<8 {
                hash = (hash ^ (bits & 0xFF)) &* 0x0000_0100_0000_01B3
                bits >>= 8
            }
        }
        return hash
    }

    static func fingerprint(_ matrix: Matrix) -> UInt64 {
        fingerprint(UnsafeBufferPointer(start: matrix.pointer, count: matrix.count))
    }

    static func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}

/// The table of the reflected CRC-32 polynomial 0xEDB88320, one entry per byte value.
private let crc32Table: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}
