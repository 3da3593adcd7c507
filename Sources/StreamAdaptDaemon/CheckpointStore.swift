import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes and reads checkpoint files atomically: write a temporary file, fsync it, rename it over the
/// previous checkpoint, fsync the directory. A crash at any point leaves either the old or the new
/// checkpoint, never a torn one.
public struct CheckpointStore: Sendable {
    public let directory: String
    public var path: String { directory + "/checkpoint.bin" }

    public init(directory: String) { self.directory = directory }

    public func write(_ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointFileError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    let message = String(cString: strerror(errno))
                    close(fd)
                    throw CheckpointFileError("cannot write \(temporary): \(message)")
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw CheckpointFileError("cannot fsync \(temporary): \(String(cString: strerror(errno)))")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw CheckpointFileError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        let dirfd = open(directory, O_RDONLY)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    /// The checkpoint's bytes, or nil when there is none.
    public func read() throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointFileError("cannot read \(path)")
        }
        return [UInt8](data)
    }

    /// Moves a refused checkpoint aside (for `--fresh`), keeping it for inspection.
    public func setAside() throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let aside = path + ".refused-\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.moveItem(atPath: path, toPath: aside)
        return aside
    }
}

public struct CheckpointFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
