import Foundation
import StreamAdaptCore
import StreamAdaptDaemon

/// A directory of labelled embeddings in the StreamAdapt data format (see README, "Data format"):
/// `images.f32` (N x D little-endian float32), `labels.txt` (N class indices), `text.f32` (C x D class
/// embeddings), `classes.txt` (C names).
struct EmbeddingDataset {
    let directory: String
    /// The class embeddings (`classes.txt`, `text.f32`), read as the daemon reads them.
    let classes: ClassEmbeddings
    let embeddings: [Float]
    let labels: [Int]

    var count: Int { labels.count }
    var dimension: Int { classes.dimension }
    var classNames: [String] { classes.names }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    init(directory: String) throws {
        self.directory = directory
        let url = URL(fileURLWithPath: directory)
        func read(_ name: String) throws -> Data {
            do { return try Data(contentsOf: url.appendingPathComponent(name)) } catch {
                throw LoadError(description: "\(directory)/\(name): cannot read (\(error.localizedDescription))")
            }
        }
        do { classes = try ClassFile.load(directory: directory) } catch let error as ConfigurationError {
            throw LoadError(description: error.reason)
        }
        let dimension = classes.dimension
        let classCount = classes.count
        embeddings = ClassFile.readFloats(try read("images.f32"))
        guard embeddings.count % dimension == 0 else {
            throw LoadError(description: "\(directory)/images.f32: \(embeddings.count) floats is not a multiple of D = \(dimension)")
        }
        guard let labelText = String(data: try read("labels.txt"), encoding: .utf8) else {
            throw LoadError(description: "\(directory)/labels.txt: not UTF-8 text")
        }
        let labelLines = labelText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var labels: [Int] = []
        labels.reserveCapacity(labelLines.count)
        for (i, line) in labelLines.enumerated() {
            guard let v = Int(line), v >= 0, v < classCount else {
                throw LoadError(description: "\(directory)/labels.txt line \(i + 1): \"\(line)\" is not a class index 0..<\(classCount)")
            }
            labels.append(v)
        }
        guard labels.count == embeddings.count / dimension else {
            throw LoadError(description: "\(directory): \(labels.count) labels for \(embeddings.count / dimension) embeddings")
        }
        self.labels = labels
    }
}

/// A `--data DIR[@FROM:TO]` argument: a dataset and the row range to stream from it.
struct DataSource {
    let directory: String
    let range: Range<Int>?

    init(argument: String) throws {
        guard let at = argument.lastIndex(of: "@") else {
            directory = argument
            range = nil
            return
        }
        directory = String(argument[..<at])
        let parts = argument[argument.index(after: at)...].split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let from = Int(parts[0]), let to = Int(parts[1]), from >= 0, to > from else {
            throw EmbeddingDataset.LoadError(description: "--data \(argument): expected DIR@FROM:TO with 0 <= FROM < TO")
        }
        range = from..<to
    }

    var label: String {
        let name = URL(fileURLWithPath: directory).lastPathComponent
        guard let range else { return name }
        return "\(name)@\(range.lowerBound):\(range.upperBound)"
    }
}
