import StreamAdaptCore
import Yams

/// One setting of a pipeline file: its dotted key, the type of its value, its one-line help, how it is
/// read into a ``PipelineConfiguration`` and how its default is written. The table of them,
/// ``PipelineConfiguration/settings``, is the only place a key is spelled: parsing, the unknown-key
/// check and the reference file `etc/streamadapt.yaml` (``PipelineConfiguration/reference()``) are all
/// derived from it.
public struct PipelineSetting {
    /// The dotted key (`model.kalman.forgetting`); the parts before the last are its sections.
    public let key: String
    /// The type as shown to a person: `string`, `number`, `integer`, `true | false`, `a | b`, `mapping`.
    public let type: String
    /// What it does, in a sentence or two; written as the comment beside it in the reference.
    public let help: String
    /// The value in the reference: the default of `configuration` as YAML text (strings quoted when
    /// YAML would read them otherwise), or nil when the setting has no default (then ``example``).
    let render: (PipelineConfiguration) -> String?
    /// A value (YAML text) shown for a setting without a default: as the value of a required setting
    /// (`model.classes`), commented out for an optional one (``commentedWhenUnset``).
    let example: String?
    /// Whether the reference shows the setting commented out when it has no default.
    let commentedWhenUnset: Bool
    /// Commented lines written under it in the reference (examples of a mapping's entries).
    let exampleLines: [String]
    /// Reads the setting's YAML node into the configuration; errors name ``key``.
    let read: (Node, inout PipelineConfiguration) throws -> Void

    /// The comment of the setting in the reference: its help, after the choices of an enumeration when
    /// the help does not name them all.
    var documentation: String {
        let choices = type.components(separatedBy: " | ")
        guard choices.count > 1, type != "true | false", !choices.allSatisfy({ help.contains($0) }) else { return help }
        return type + ": " + help
    }

    /// The last part of the key.
    public var name: Substring { key.split(separator: ".").last ?? Substring(key) }
    /// The sections the setting is in (`model.kalman` for `model.kalman.forgetting`; empty at the top).
    public var section: String { key.split(separator: ".").dropLast().joined(separator: ".") }
}

extension PipelineSetting {
    typealias Path<Value> = WritableKeyPath<PipelineConfiguration, Value>

    private init(
        _ key: String, type: String, help: String, example: String? = nil, commentedWhenUnset: Bool = false,
        exampleLines: [String] = [], render: @escaping (PipelineConfiguration) -> String?, read: @escaping (Node, inout PipelineConfiguration) throws -> Void
    ) {
        self.key = key
        self.type = type
        self.help = help
        self.render = render
        self.example = example.map(PipelineConfiguration.yamlScalar)
        self.commentedWhenUnset = commentedWhenUnset
        self.exampleLines = exampleLines
        self.read = read
    }

    static func string(_ key: String, _ path: Path<String>, _ help: String, example: String? = nil) -> Self {
        Self(key, type: "string", help: help, example: example, render: { c in
            c[keyPath: path].isEmpty ? nil : PipelineConfiguration.yamlScalar(c[keyPath: path])
        }) {
            node, c in c[keyPath: path] = try Self.string(node, key)
        }
    }

    /// A string without a default (nil unless given): shown commented out with `example`.
    static func optionalString(_ key: String, _ path: Path<String?>, _ help: String, example: String) -> Self {
        Self(key, type: "string", help: help, example: example, commentedWhenUnset: true, render: { c in
            c[keyPath: path].map(PipelineConfiguration.yamlScalar)
        }) { node, c in
            c[keyPath: path] = try Self.string(node, key)
        }
    }

    /// `group`: a string without a default; reading it also makes `model.mode` per-partition (a
    /// `model.mode` in the file, read after it, still decides).
    static func group(_ key: String, _ help: String, example: String) -> Self {
        Self(key, type: "string", help: help, example: example, commentedWhenUnset: true, render: { c in
            c.group.map(PipelineConfiguration.yamlScalar)
        }) { node, c in
            c.joinGroup(try Self.string(node, key))
        }
    }

    static func double(_ key: String, _ path: Path<Double>, _ help: String) -> Self {
        Self(key, type: "number", help: help, render: { c in "\(c[keyPath: path])" }) { node, c in
            c[keyPath: path] = try Self.double(node, key)
        }
    }

    static func int(_ key: String, _ path: Path<Int>, _ help: String) -> Self {
        Self(key, type: "integer", help: help, render: { c in "\(c[keyPath: path])" }) { node, c in
            c[keyPath: path] = try Self.int(node, key)
        }
    }

    static func bool(_ key: String, _ path: Path<Bool>, _ help: String) -> Self {
        Self(key, type: "true | false", help: help, render: { c in "\(c[keyPath: path])" }) { node, c in
            c[keyPath: path] = try Self.bool(node, key)
        }
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ path: Path<T>, _ help: String) -> Self
    where T.RawValue == String {
        Self(key, type: Self.choices(T.self), help: help, render: { c in c[keyPath: path].rawValue }) { node, c in
            c[keyPath: path] = try Self.choice(node, key, T.self)
        }
    }

    /// A mapping of names to scalar values, passed through as strings.
    static func stringMap(_ key: String, _ path: Path<[String: String]>, _ help: String, exampleLines: [String]) -> Self {
        Self(
            key, type: "mapping", help: help, exampleLines: exampleLines,
            render: { c in c[keyPath: path].isEmpty ? "" : nil }
        ) { node, c in
            if let scalar = node.scalar, ["", "~", "null"].contains(scalar.string) {  // `key:` with nothing under it
                c[keyPath: path] = [:]
                return
            }
            guard let mapping = node.mapping else { throw ConfigurationError(field: key, reason: "must be a mapping") }
            var result: [String: String] = [:]
            for (k, v) in mapping {
                guard let name = k.scalar?.string, let value = v.scalar?.string else {
                    throw ConfigurationError(field: key, reason: "must map names to scalar values")
                }
                result[name] = value
            }
            c[keyPath: path] = result
        }
    }

    /// A setting of both Kalman heads (`kalman` and `kalman-diagonal`), shown with the `kalman` head's
    /// default, or commented out (`commentedOut`) when the two heads' defaults differ, so that the
    /// reference, copied, sets neither.
    static func kalman(
        _ key: String, _ path: WritableKeyPath<KalmanConfiguration, Double>, _ help: String, commentedOut: Bool = false
    ) -> Self {
        Self(
            key, type: "number", help: help, example: commentedOut ? "\(KalmanConfiguration()[keyPath: path])" : nil,
            commentedWhenUnset: true,
            render: { c in commentedOut ? nil : "\(c.heads.kalman[keyPath: path])" }
        ) { node, c in
            let value = try Self.double(node, key)
            c.heads.kalman[keyPath: path] = value
            c.heads.kalmanDiagonal[keyPath: path] = value
        }
    }

    static func kalman<T: RawRepresentable & CaseIterable>(
        _ key: String, _ path: WritableKeyPath<KalmanConfiguration, T>, _ help: String
    ) -> Self where T.RawValue == String {
        Self(key, type: Self.choices(T.self), help: help, render: { c in c.heads.kalman[keyPath: path].rawValue }) {
            node, c in
            let value = try Self.choice(node, key, T.self)
            c.heads.kalman[keyPath: path] = value
            c.heads.kalmanDiagonal[keyPath: path] = value
        }
    }

    /// A setting with its own reading (the Kalman observation and covariance, which choose defaults).
    static func custom(
        _ key: String, type: String, _ help: String, render: @escaping (PipelineConfiguration) -> String?,
        read: @escaping (Node, inout PipelineConfiguration) throws -> Void
    ) -> Self {
        Self(key, type: type, help: help, render: render, read: read)
    }

    // MARK: Values

    static func choices<T: RawRepresentable & CaseIterable>(_: T.Type) -> String where T.RawValue == String {
        T.allCases.map(\.rawValue).joined(separator: " | ")
    }

    static func string(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string else { throw ConfigurationError(field: key, reason: "must be a string") }
        return s
    }

    static func double(_ node: Node, _ key: String) throws -> Double {
        guard let s = node.scalar?.string, let v = Double(s), v.isFinite else {
            throw ConfigurationError(field: key, reason: "must be a number")
        }
        return v
    }

    static func int(_ node: Node, _ key: String) throws -> Int {
        guard let s = node.scalar?.string, let v = Int(s) else {
            throw ConfigurationError(field: key, reason: "must be an integer")
        }
        return v
    }

    static func bool(_ node: Node, _ key: String) throws -> Bool {
        switch node.scalar?.string {
        case "true": return true
        case "false": return false
        default: throw ConfigurationError(field: key, reason: "must be true or false")
        }
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ key: String, _: T.Type) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: try string(node, key)) else {
            throw ConfigurationError(
                field: key, reason: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
