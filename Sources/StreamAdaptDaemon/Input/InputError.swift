import StreamAdaptCore

/// Why an input message cannot be used; `code` goes into the dead-letter record's `reason` header.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: EmbeddingError) {
        code = error.code
        message = error.description
    }

    public var description: String { "\(code): \(message)" }

    static func unparseable(_ message: String) -> InputError { InputError("unparseable", message) }
}

