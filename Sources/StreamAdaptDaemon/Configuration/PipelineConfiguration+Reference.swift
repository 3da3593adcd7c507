extension PipelineConfiguration {
    /// The reference pipeline file, `etc/streamadapt.yaml`: every setting of ``settings`` with its
    /// default (settings without one commented out, with an example) and its help as a comment.
    /// `streamadapt config` prints it; regenerate the file with
    /// `swift run streamadapt config > etc/streamadapt.yaml` (a test checks that it is up to date).
    public static func reference() -> String {
        let defaults = PipelineConfiguration()
        var lines = referenceHeader
        var open: [Substring] = []
        for setting in settings {
            let sections = setting.section.split(separator: ".")
            var common = 0
            while common < min(open.count, sections.count) && open[common] == sections[common] { common += 1 }
            if common == 0 && open != sections { lines.append("") }
            for depth in common..<sections.count {
                let path = sections[...depth].joined(separator: ".")
                lines += commented(indent(depth) + sections[depth] + ":", sectionHelp[path])
            }
            open = sections
            let prefix = indent(sections.count)
            if let value = setting.render(defaults) {
                lines += commented(prefix + setting.name + ":" + (value.isEmpty ? "" : " " + value), setting.documentation)
            } else if let example = setting.example, !setting.commentedWhenUnset {
                lines += commented(prefix + setting.name + ": " + example, setting.documentation)
            } else {
                lines += commented(prefix + "# " + setting.name + ": " + (setting.example ?? ""), setting.documentation)
            }
            lines += setting.exampleLines.map { indent(sections.count + 1) + "# " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static let referenceHeader = [
        "# StreamAdapt pipeline reference: every setting with its default. Copy what you need into a pipeline",
        "# file (see pipelines/fashion-demo.yaml). Unknown or malformed settings fail at start, naming the",
        "# setting. Environment variables STREAMADAPT_BOOTSTRAP, STREAMADAPT_CHECKPOINT_DIR and",
        "# STREAMADAPT_METRICS_PORT override the file; `streamadapt run` flags override both. Relative paths",
        "# (model.classes, checkpoint.directory) resolve against the daemon's working directory, not the",
        "# pipeline file's folder.",
        "#",
        "# Generated from the settings table (Sources/StreamAdaptDaemon/Configuration/): do not edit; run",
        "# `swift run streamadapt config > etc/streamadapt.yaml`.",
    ]

    /// The column of the comments.
    private static let commentColumn = 37
    /// The widest line the comments are wrapped to.
    private static let width = 118

    private static func indent(_ depth: Int) -> String { String(repeating: " ", count: 2 * depth) }

    /// `text` with `help` as a comment from ``commentColumn``, wrapped onto comment lines at that column.
    private static func commented(_ text: String, _ help: String?) -> [String] {
        guard let help, !help.isEmpty else { return [text] }
        var words = help.split(separator: " ").map(String.init)
        var lines: [String] = []
        var line = text.count < commentColumn ? text.padded(to: commentColumn) : text + " "
        line += "#"
        var wrote = false
        while !words.isEmpty {
            let word = words.removeFirst()
            if wrote && line.count + 1 + word.count > width {
                lines.append(line)
                line = String(repeating: " ", count: commentColumn) + "#"
            }
            line += " " + word
            wrote = true
        }
        lines.append(line)
        return lines
    }

    /// A string as a YAML scalar: plain when YAML reads it back as that string, else double-quoted.
    static func yamlScalar(_ value: String) -> String {
        let plain = value.allSatisfy { $0.isLetter || $0.isNumber || "._/:+-".contains($0) }
            && !value.isEmpty && !value.hasPrefix("-") && !value.hasSuffix(":")
            && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(value.lowercased())
        if plain { return value }
        var out = "\""
        for c in value.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}

extension String {
    fileprivate func padded(to length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
