/// Skipping a value the decoder does not read, validated as strictly as the rest (duplicate keys in
/// its objects included) and iteratively: the open containers are bits of one integer, so the work is
/// linear in the bytes skipped and the stack use is constant, however deep the input tries to go.
extension JSONScanner {
    /// Skips the value at the position and the whitespace after it; `depth` containers are already
    /// open around it (1 for a member of the event's object). Nesting beyond ``maximumDepth`` is
    /// refused with `too-deep` at the bracket that opens the level too many.
    mutating func skipValue(depth: Int) throws(InputError) {
        // Bit k of `objects` is set when the container at level k + 1 (counted from this value) is an
        // object; `keys.objectStack[k]` is then its number in the key table.
        var level = 0
        var objects: UInt64 = 0
        var needValue = true
        while true {
            if needValue {
                guard position < bytes.count else { throw error(.unparseable, "expected a value", at: position) }
                let c = bytes[position]
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth + level < Self.maximumDepth else {
                        throw error(.tooDeep, "arrays and objects nested deeper than \(Self.maximumDepth)", at: position)
                    }
                    let bit: UInt64 = 1 << UInt64(level)
                    level += 1
                    position += 1
                    skipSpace()
                    if c == UInt8(ascii: "{") {
                        objects |= bit
                        let object = keys.newObject()
                        keys.objectStack[level - 1] = object
                        if consume(UInt8(ascii: "}")) {
                            level -= 1
                            objects &= ~bit
                            needValue = false
                        } else {
                            try member(of: object)
                        }
                    } else {
                        objects &= ~bit
                        if consume(UInt8(ascii: "]")) {
                            level -= 1
                            needValue = false
                        }
                    }
                case UInt8(ascii: "\""):
                    _ = try scanString()
                    skipSpace()
                    needValue = false
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    try literal()
                    skipSpace()
                    needValue = false
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    _ = try number(value: false)
                    skipSpace()
                    needValue = false
                default:
                    throw notAValue(at: position)
                }
            } else {
                if level == 0 { return }
                let inObject = objects & (1 << UInt64(level - 1)) != 0
                if try next(inObject: inObject) {
                    if inObject { try member(of: keys.objectStack[level - 1]) }
                    needValue = true
                } else {
                    level -= 1
                }
            }
        }
    }

    /// A member's key in a skipped object (refused if the object already has it) and the `:`.
    private mutating func member(of object: UInt64) throws(InputError) {
        let start = position
        let key = try key()
        guard keys.insert(key, object: object, input: bytes) else {
            throw error(.duplicateKey, "duplicate key in an object", at: start)
        }
    }
}
