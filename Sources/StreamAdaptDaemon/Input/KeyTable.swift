/// The keys seen in each JSON object of one message, for duplicate-key detection in objects whose
/// keys are not known in advance (unknown top-level fields, and every object inside them).
///
/// Hand-written rather than a `Set<String>` per object: that would allocate a set and a string per
/// key on every event. Here one open-addressing table is reused across messages. A key is stored as
/// (object number, byte range): in the message itself, or in ``scratch`` when the key had escapes
/// (so `"a"` and `"\u0061"` are the same key). Objects are numbered by a counter that never goes
/// back, so starting a message (``beginMessage()``) empties the table in O(1): slots of earlier
/// messages have a number below ``base`` and count as free. Hashes are Swift's `Hasher` (seeded per
/// process), so an input cannot be crafted to make the keys collide: an object with 100,000 distinct
/// keys costs linear time. The table grows with the keys of one message (at most one per 4 bytes of
/// it) and is released after a message that made it large.
final class KeyTable {
    struct Slot {
        var object: UInt64 = 0
        var hash = 0
        // Int, not Int32: input.maxMessageBytes has no upper bound, and a narrowing conversion would trap.
        var start = 0
        var length = 0
        var inScratch = false
    }

    /// Where a key's bytes are: in the message, or (unescaped) in ``scratch``.
    struct Key {
        var start: Int
        var length: Int
        var inScratch: Bool
    }

    private static let initialCapacity = 64
    private static let retainedCapacity = 1 << 14
    private var slots = [Slot](repeating: Slot(), count: initialCapacity)
    private var live = 0
    /// Objects numbered `>= base` belong to the current message.
    private var base: UInt64 = 1
    private var nextObject: UInt64 = 1
    /// Unescaped bytes of the current message's strings that had escapes.
    var scratch: [UInt8] = []
    /// The object number of each open object while skipping a value (index: nesting level).
    let objectStack: UnsafeMutablePointer<UInt64>

    init() {
        scratch.reserveCapacity(256)
        objectStack = .allocate(capacity: JSONScanner.maximumDepth + 1)
    }

    deinit { objectStack.deallocate() }

    /// Forgets the keys of the previous message.
    func beginMessage() {
        base = nextObject
        live = 0
        if slots.count > Self.retainedCapacity { slots = [Slot](repeating: Slot(), count: Self.initialCapacity) }
        if scratch.capacity > Self.retainedCapacity { scratch = [] }
        scratch.removeAll(keepingCapacity: true)
    }

    /// A number for a newly opened object.
    func newObject() -> UInt64 {
        defer { nextObject += 1 }
        return nextObject
    }

    /// Records `key` in `object`; false if the object already has that key.
    func insert(_ key: Key, object: UInt64, input: UnsafeRawBufferPointer) -> Bool {
        if (live + 1) * 2 > slots.count { grow() }
        return withBytes(key, input) { keyBytes in
            var hasher = Hasher()
            hasher.combine(object)
            hasher.combine(bytes: keyBytes)
            let hash = hasher.finalize()
            let mask = slots.count - 1
            var i = hash & mask
            while slots[i].object >= base {
                let slot = slots[i]
                if slot.object == object, slot.hash == hash, slot.length == keyBytes.count {
                    let stored = Key(start: slot.start, length: slot.length, inScratch: slot.inScratch)
                    if withBytes(stored, input, { equal($0, keyBytes) }) { return false }
                }
                i = (i + 1) & mask
            }
            slots[i] = Slot(object: object, hash: hash, start: key.start, length: key.length, inScratch: key.inScratch)
            live += 1
            return true
        }
    }

    /// Calls `body` with the bytes of `key`.
    func withBytes<R>(_ key: Key, _ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if key.inScratch {
            return scratch.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[key.start..<(key.start + key.length)])) }
        }
        return body(UnsafeRawBufferPointer(rebasing: input[key.start..<(key.start + key.length)]))
    }

    private func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
    }

    private func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        for slot in old where slot.object >= base {
            var i = slot.hash & mask
            while slots[i].object >= base { i = (i + 1) & mask }
            slots[i] = slot
        }
    }
}
