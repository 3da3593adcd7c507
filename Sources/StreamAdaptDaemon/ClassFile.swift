import Foundation
import StreamAdaptCore

/// Reads class embeddings from a data directory: `classes.txt` (C names) and `text.f32`
/// (C x D little-endian float32: the CLIP text embeddings of the class prompts, or prototypes).
public enum ClassFile {
    public static func load(directory: String) throws -> ClassEmbeddings {
        let url = URL(fileURLWithPath: directory)
        guard let namesData = try? Data(contentsOf: url.appendingPathComponent("classes.txt")),
            let text = String(data: namesData, encoding: .utf8)
        else { throw ConfigurationError(field: "model.classes", reason: "\(directory)/classes.txt cannot be read") }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard let data = try? Data(contentsOf: url.appendingPathComponent("text.f32")) else {
            throw ConfigurationError(field: "model.classes", reason: "\(directory)/text.f32 cannot be read")
        }
        let values = readFloats(data)
        guard !names.isEmpty, !values.isEmpty, values.count % names.count == 0 else {
            throw ConfigurationError(
                field: "model.classes",
                reason: "\(directory): text.f32 has \(values.count) floats, not a multiple of \(names.count) classes")
        }
        do {
            return try ClassEmbeddings(names: names, dimension: values.count / names.count, values: values)
        } catch {
            throw ConfigurationError(field: "model.classes", reason: "\(directory)/text.f32: \(error)")
        }
    }

    /// Little-endian float32 values of `data`.
    public static func readFloats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }
}
