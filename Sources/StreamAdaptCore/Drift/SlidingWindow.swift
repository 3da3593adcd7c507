/// The last `size` Bool observations of a stream, in a ring, with how many of them are true.
public struct SlidingWindow: Sendable {
    public let size: Int
    private var values: [Bool]
    private var position = 0
    public private(set) var filled = 0
    public private(set) var trueCount = 0

    public init(size: Int) {
        self.size = size
        values = Array(repeating: false, count: size)
    }

    public var isFull: Bool { filled == size }
    /// The fraction of true values among those held (0 when empty).
    public var fraction: Double { filled == 0 ? 0 : Double(trueCount) / Double(filled) }

    /// The value the next ``append(_:)`` pushes out of a full window.
    var oldest: Bool { values[position] }

    /// The `i`-th value held, oldest first (0 ..< ``filled``).
    subscript(i: Int) -> Bool {
        precondition(i >= 0 && i < filled)
        return values[(position - filled + i + size) % size]
    }

    public mutating func append(_ value: Bool) {
        if filled == size, values[position] { trueCount -= 1 }
        values[position] = value
        if value { trueCount += 1 }
        position = (position + 1) % size
        filled = min(size, filled + 1)
    }

    mutating func clear() {
        position = 0
        filled = 0
        trueCount = 0
    }

    func save(to writer: inout CheckpointWriter) {
        writer.writeBools(values)
        writer.writeInt(position)
        writer.writeInt(filled)
        writer.writeInt(trueCount)
    }

    /// Reads a window written by ``save(to:)``; `field` names it in errors.
    static func read(size: Int, from reader: inout CheckpointReader, field: String) throws(CheckpointError) -> SlidingWindow {
        let values = try reader.readBools(count: size, field: field)
        let position = try reader.readInt()
        let filled = try reader.readInt()
        let trueCount = try reader.readInt()
        guard (0..<size).contains(position), (0...size).contains(filled), (0...filled).contains(trueCount) else {
            throw .corrupt(field, "position \(position), filled \(filled), true \(trueCount) in a window of \(size)")
        }
        var window = SlidingWindow(size: size)
        window.values = values
        window.position = position
        window.filled = filled
        window.trueCount = trueCount
        return window
    }
}
