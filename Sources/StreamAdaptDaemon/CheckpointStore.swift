import Foundation
import StreamAdaptCore

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

    /// Checks at start what the first checkpoint write would find out too late: creates the folder if
    /// it is missing, then checks that it is a folder and that a file can be created, written, synced
    /// and removed in it.
    /// - Throws: ``CheckpointFileError`` naming the path and what is wrong.
    public func prepare() throws(CheckpointFileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CheckpointFileError(
                    .notADirectory, path: directory, "is a file, not a folder (checkpoint.directory must name a folder)")
            }
        } else {
            try makeDirectories()
        }
        let probe = directory + "/.streamadapt-write-test"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw CheckpointFileError(.notWritable, path: directory, "is not writable: \(String(cString: strerror(errno)))")
        }
        let byte: UInt8 = 0
        let written = withUnsafePointer(to: byte) { Glibc.write(fd, $0, 1) }
        let synced = written == 1 ? fsync(fd) : -1
        let failure = errno
        close(fd)
        unlink(probe)
        guard written == 1, synced == 0 else {
            throw CheckpointFileError(.notWritable, path: directory, "is not writable: \(String(cString: strerror(failure)))")
        }
    }

    public func write(_ bytes: [UInt8]) throws(CheckpointFileError) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            try prepare()
        }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointFileError(.writeFailed, path: temporary, "cannot be created: \(String(cString: strerror(errno)))") }
        var written = 0
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        if let failure {
            close(fd)
            throw CheckpointFileError(.writeFailed, path: temporary, "cannot be written: \(String(cString: strerror(failure)))")
        }
        guard fsync(fd) == 0 else {
            let failure = errno
            close(fd)
            throw CheckpointFileError(.writeFailed, path: temporary, "cannot be synced: \(String(cString: strerror(failure)))")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw CheckpointFileError(.writeFailed, path: path, "cannot be replaced: \(String(cString: strerror(errno)))")
        }
        let dirfd = open(directory, O_RDONLY)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    /// The checkpoint's bytes, or nil when there is none.
    public func read() throws(CheckpointFileError) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointFileError(.readFailed, path: path, "cannot be read")
        }
        return [UInt8](data)
    }

    /// Moves a refused checkpoint aside (for `--fresh`), keeping it for inspection.
    public func setAside() throws(CheckpointFileError) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let aside = path + ".refused-\(Int(Date().timeIntervalSince1970))"
        guard rename(path, aside) == 0 else {
            throw CheckpointFileError(.writeFailed, path: path, "cannot be moved to \(aside): \(String(cString: strerror(errno)))")
        }
        return aside
    }

    /// Creates the folder and any missing parent (mkdir, so the error names the component and the POSIX
    /// reason rather than a Foundation error number).
    private func makeDirectories() throws(CheckpointFileError) {
        var current = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 { continue }
            let failure = errno
            var isDirectory: ObjCBool = false
            if failure == EEXIST, FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
                if isDirectory.boolValue { continue }
                throw CheckpointFileError(.cannotCreate, path: directory, "cannot be created: \(current) is a file")
            }
            throw CheckpointFileError(
                .cannotCreate, path: directory,
                "cannot be created: \(current == directory ? "" : current + ": ")\(String(cString: strerror(failure)))")
        }
    }
}

/// Why the checkpoint folder or file cannot be used, with a stable code and the path it is about.
public struct CheckpointFileError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// `checkpoint.directory` names a file.
        case notADirectory = "not-a-directory"
        /// The folder is missing and cannot be created (a parent is a file, or not writable).
        case cannotCreate = "cannot-create"
        /// The folder exists but a file cannot be created or written in it.
        case notWritable = "not-writable"
        /// The checkpoint file exists but cannot be read.
        case readFailed = "read-failed"
        /// Writing, syncing or renaming a checkpoint failed (disk full, I/O error, ...).
        case writeFailed = "write-failed"
        /// The checkpoint was read but refused (corrupt, other classes, head or settings):
        /// ``checkpointError`` says why.
        case refused
    }

    public let code: Code
    /// The folder or file the error is about.
    public let path: String
    public let message: String
    /// The reason a checkpoint was refused (code ``Code/refused``).
    public let checkpointError: CheckpointError?

    public init(_ code: Code, path: String, _ message: String, checkpointError: CheckpointError? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.checkpointError = checkpointError
    }

    public var description: String { "checkpoint \(code.rawValue): \(path) \(message)" }
}
