import Foundation
import Testing

/// Checks JSON documents against the schemas in docs/schemas/ with an independent validator: Python's
/// `jsonschema` (Debian python3-jsonschema, installed by scripts/install-deps) through
/// scripts/check-json-schema, one document per line.
enum SchemaValidator {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let script = root.appendingPathComponent("scripts/check-json-schema")

    /// Whether python3 with `jsonschema` is installed (else the schema tests are skipped).
    static let isAvailable: Bool = {
        guard let result = try? run(["/usr/bin/env", "python3", "-c", "import jsonschema"], input: Data()) else { return false }
        return result.status == 0
    }()

    static let skipMessage: Comment = "python3-jsonschema is not installed: run scripts/install-deps"

    static func schemaURL(_ name: String) -> URL { root.appendingPathComponent("docs/schemas/\(name).schema.json") }

    /// One verdict per document: "valid", "invalid: ..." or "unparseable: ...".
    static func check(_ documents: [[UInt8]], against schema: String) throws -> [String] {
        var input = Data()
        for document in documents {
            precondition(!document.contains(0x0A), "one document per line")
            input.append(contentsOf: document)
            input.append(0x0A)
        }
        let result = try run([script.path, schemaURL(schema).path], input: input)
        guard result.status == 0 else {
            throw ValidatorError(description: "check-json-schema exited with \(result.status): \(result.error)")
        }
        return result.output.split(separator: "\n").map(String.init)
    }

    static func check(_ documents: [String], against schema: String) throws -> [String] {
        try check(documents.map { Array($0.utf8) }, against: schema)
    }

    struct ValidatorError: Error, CustomStringConvertible { var description: String }

    /// Runs a command with `input` on standard input; standard output and error go through files, so a
    /// chatty child cannot block on a full pipe.
    private static func run(_ arguments: [String], input: Data) throws -> (status: Int32, output: String, error: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inURL = directory.appendingPathComponent("in")
        let outURL = directory.appendingPathComponent("out")
        let errURL = directory.appendingPathComponent("err")
        try input.write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let inHandle = try FileHandle(forReadingFrom: inURL)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? inHandle.close()
            try? outHandle.close()
            try? errHandle.close()
        }
        process.standardInput = inHandle
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        process.waitUntilExit()
        return (
            process.terminationStatus, try String(contentsOf: outURL, encoding: .utf8),
            try String(contentsOf: errURL, encoding: .utf8)
        )
    }
}
