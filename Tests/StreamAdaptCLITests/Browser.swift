import Foundation
import Testing

/// Headless Chromium (the Debian package `chromium`, installed by `scripts/install-deps`): the DOM a page
/// has once its scripts ran, and screenshots.
enum Browser {
    static let path = "/usr/bin/chromium"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Where the browser tests leave their screenshots (kept after the run: test artifacts).
    static var artifacts: URL {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/test-artifacts")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Runs chromium headless on `url` with `arguments`, letting the page's timers and fetches run for
    /// `budget` milliseconds of virtual time; returns stdout.
    static func run(_ url: String, _ arguments: [String], budget: Int = 4000) throws -> String {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("sa-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        return try standardOutput(
            of: path,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                "--user-data-dir=\(profile.path)", "--virtual-time-budget=\(budget)",
            ] + arguments + [url])
    }

    /// The rendered DOM of `url` (after its scripts ran), as HTML.
    static func dom(_ url: String) throws -> String { try run(url, ["--dump-dom"]) }

    /// A screenshot of `url` into `file` (PNG); whether it was written.
    @discardableResult
    static func screenshot(_ url: String, to file: URL, width: Int = 1280, height: Int = 1250) throws -> Bool {
        try? FileManager.default.removeItem(at: file)
        _ = try run(url, ["--screenshot=\(file.path)", "--window-size=\(width),\(height)"])
        return FileManager.default.fileExists(atPath: file.path)
    }
}

/// Reading a rendered DOM (chromium's serialisation: attributes in double quotes).
enum DOM {
    /// The opening tags of elements with `tag` whose attributes contain every one of `attributes`.
    static func tags(_ html: String, _ tag: String, with attributes: [String] = []) -> [String] {
        var found: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<\(tag) ") ?? rest.range(of: "<\(tag)>") {
            guard let end = rest[start.upperBound...].firstIndex(of: ">") else { break }
            let element = String(rest[start.lowerBound...end])
            if attributes.allSatisfy({ element.contains($0) }) { found.append(element) }
            rest = rest[rest.index(after: end)...]
        }
        return found
    }

    /// The value of `name` in an opening tag.
    static func attribute(_ tag: String, _ name: String) -> String? {
        guard let start = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[start.upperBound...].prefix { $0 != "\"" })
    }

    /// The text of the element with `id` (up to its first child tag).
    static func text(_ html: String, id: String) -> String? {
        guard let start = html.range(of: " id=\"\(id)\""), let close = html[start.upperBound...].firstIndex(of: ">") else { return nil }
        return String(html[html.index(after: close)...].prefix { $0 != "<" })
    }

    /// The contents of the element that starts at the tag with `id`, up to `closing` (e.g. `</svg>`).
    static func element(_ html: String, id: String, closing: String) -> String? {
        element(html, marker: " id=\"\(id)\"", closing: closing)
    }

    /// The text from the first occurrence of `marker` up to `closing`.
    static func element(_ html: String, marker: String, closing: String) -> String? {
        guard let start = html.range(of: marker), let end = html[start.upperBound...].range(of: closing) else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }
}
