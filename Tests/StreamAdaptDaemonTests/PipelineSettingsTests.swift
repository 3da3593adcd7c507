import Foundation
import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// The settings table: it drives parsing, the unknown-key check and the reference `etc/streamadapt.yaml`.
@Suite struct PipelineSettingsTests {
    static let referencePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("etc/streamadapt.yaml").path

    /// YAML setting one dotted key (nested mappings) next to `model.classes`.
    static func yaml(_ key: String, _ value: String) -> String {
        var parts = key.split(separator: ".").map(String.init)
        var lines = ["model:", "  classes: x"]
        var depth = 0
        if parts.first == "model" {
            parts.removeFirst()
            depth = 1
        }
        for (i, part) in parts.enumerated() {
            lines.append(String(repeating: "  ", count: depth + i) + part + ":" + (i == parts.count - 1 ? " " + value : ""))
        }
        return lines.joined(separator: "\n")
    }

    @Test func theReferenceFileIsWhatTheTableGenerates() throws {
        let file = try String(contentsOfFile: Self.referencePath, encoding: .utf8)
        let generated = PipelineConfiguration.reference()
        let firstDifference = zip(file.split(separator: "\n", omittingEmptySubsequences: false),
                                  generated.split(separator: "\n", omittingEmptySubsequences: false))
            .enumerated().first { $0.element.0 != $0.element.1 }
        #expect(
            file == generated,
            """
            etc/streamadapt.yaml is out of date (first difference at line \((firstDifference?.offset ?? -1) + 1): \
            \(firstDifference.map { "\"\($0.element.0)\" vs \"\($0.element.1)\"" } ?? "length")); \
            regenerate it: swift run streamadapt config > etc/streamadapt.yaml
            """)
    }

    @Test func theReferenceParsesToTheDefaults() throws {
        let parsed = try PipelineConfiguration.parse(yaml: PipelineConfiguration.reference())
        var expected = PipelineConfiguration()
        expected.classesDirectory = "/path/to/classes"
        #expect(parsed == expected)
        try parsed.validate()
    }

    @Test func everyKeyIsDocumentedOnceAndInTheReference() {
        let keys = PipelineConfiguration.settings.map(\.key)
        #expect(Set(keys).count == keys.count)
        let reference = PipelineConfiguration.reference()
        for setting in PipelineConfiguration.settings {
            #expect(!setting.help.isEmpty, "\(setting.key) has no help")
            let lines = reference.split(separator: "\n").map { $0.drop { $0 == " " || $0 == "#" } }
            #expect(lines.contains { $0.hasPrefix(setting.name + ":") }, "\(setting.key) is not in the reference")
        }
        for key in ["drift.accuracyMinimumEvents", "drift.accuracyWindow", "drift.calibrationRate", "drift.alertHistory",
                    "kafka.outageLimitSeconds", "kafka.stopTimeoutSeconds", "input.maxIdBytes", "input.offsetGaps"] {
            #expect(keys.contains(key), "\(key) is not a setting")
        }
    }

    /// Each setting, given a value other than its default, changes the parsed configuration: every key is
    /// wired to a field.
    @Test func everySettingIsRead() throws {
        let base = try PipelineConfiguration.parse(yaml: "model:\n  classes: x")
        let defaults = PipelineConfiguration()
        for setting in PipelineConfiguration.settings where setting.key != "model.classes" {
            let rendered = setting.render(defaults) ?? setting.example
            let value: String
            switch setting.type {
            case "number": value = "\((Double(rendered ?? "") ?? 0) * 2 + 1)"
            case "integer": value = "\((Int(rendered ?? "") ?? 0) + 1)"
            case "true | false": value = rendered == "true" ? "false" : "true"
            case "mapping": value = "{a: b}"
            case "string": value = "other" + (rendered ?? "")
            default:
                let choices = setting.type.components(separatedBy: " | ")
                value = try #require(choices.first { $0 != rendered }, "\(setting.key): \(setting.type)")
            }
            let yaml = Self.yaml(setting.key, value)
            let parsed = try PipelineConfiguration.parse(yaml: yaml)
            #expect(parsed != base, "\(setting.key): \(value) changed nothing\n\(yaml)")
        }
    }

    /// topics.control may be topics.input (control records marked by a header); topics.labels may be
    /// neither.
    @Test func topicsThatMayAndMayNotCoincide() throws {
        func config(_ topics: String) throws -> PipelineConfiguration {
            try PipelineConfiguration.parse(yaml: "model:\n  classes: x\ntopics:\n  input: in\n\(topics)")
        }
        try config("  control: in\n").validate()
        try config("  control: classes\n  labels: labels\n").validate()
        for (topics, field) in [("  labels: in\n", "topics.labels"), ("  labels: l\n  control: l\n", "topics.control")] {
            let error = try #require(throws: ConfigurationError.self) { try config(topics).validate() }
            #expect(error.field == field, "\(topics)")
        }
    }

    @Test func theNewDriftSettingsAreRead() throws {
        let config = try PipelineConfiguration.parse(yaml: """
            model:
              classes: x
            drift:
              accuracyMinimumEvents: 50
              accuracyWindow: 120
              calibrationRate: 0.5
              alertHistory: 20
            """)
        #expect(config.drift.accuracyMinimumEvents == 50 && config.drift.accuracyWindow == 120)
        #expect(config.drift.calibrationRate == 0.5 && config.drift.alertHistory == 20)
        try config.validate()
        let tooSmall = try PipelineConfiguration.parse(yaml: "model:\n  classes: x\ndrift:\n  alertHistory: 1")
        let error = try #require(throws: ConfigurationError.self) { try tooSmall.validate() }
        #expect(error.field == "drift.alertHistory")
    }

    /// `group` makes the model per-partition unless the file says otherwise; what a group refuses.
    @Test func aGroupNeedsPerPartitionModelsAndStateOnItsTopic() throws {
        let grouped = try PipelineConfiguration.parse(yaml: "name: fashion\ngroup: g\nmodel:\n  classes: x")
        #expect(grouped.group == "g" && grouped.modelMode == .perPartition && grouped.stateTopic == "fashion-state")
        try grouped.validate()
        func refusal(_ yaml: String, _ change: (inout PipelineConfiguration) -> Void = { _ in }) throws -> ConfigurationError {
            var config = try PipelineConfiguration.parse(yaml: "model:\n  classes: x\n" + yaml)
            change(&config)
            return try #require(throws: ConfigurationError.self) { try config.validate() }
        }
        #expect(try refusal("group: g", { $0.modelMode = .single }).field == "model.mode")
        let explicit = try PipelineConfiguration.parse(yaml: "group: g\nmodel:\n  classes: x\n  mode: single")
        #expect(explicit.modelMode == .single)  // read after group: the file decides
        #expect(try refusal("", { $0.modelMode = .perPartition }).field == "model.mode")
        #expect(try refusal("group: g\ntopics:\n  labels: l").field == "topics.labels")
        #expect(try refusal("group: g\ntopics:\n  control: c").field == "topics.control")
        #expect(try refusal("group: g\ncheckpoint:\n  directory: /tmp/x").field == "checkpoint.directory")
        #expect(try refusal("group: g\ntopics:\n  state: predictions").field == "topics.state")
        var fromEnvironment = try PipelineConfiguration.parse(yaml: "model:\n  classes: x")
        try fromEnvironment.applyEnvironment(["STREAMADAPT_GROUP": "h"])
        #expect(fromEnvironment.group == "h" && fromEnvironment.modelMode == .perPartition)
    }

    /// `model.mode: shared`: with a group and the full Float64 kalman head only; the file's mode stays
    /// when a group comes from the environment; event-time forgetting and an unbounded trace parse.
    @Test func aSharedModelNeedsAGroupAndTheFullKalmanHead() throws {
        let shared = try PipelineConfiguration.parse(
            yaml: "group: g\nmodel:\n  classes: x\n  mode: shared\n  kalman:\n    forgettingUnit: second\n    traceBound: .inf")
        #expect(shared.modelMode == .shared && shared.heads.kalman.forgettingUnit == .second)
        #expect(shared.heads.kalman.traceBound == .infinity)
        try shared.validate()
        func refusal(_ yaml: String) throws -> ConfigurationError {
            let config = try PipelineConfiguration.parse(yaml: "model:\n  classes: x\n" + yaml)
            return try #require(throws: ConfigurationError.self) { try config.validate() }
        }
        #expect(try refusal("  mode: shared").field == "model.mode")  // no group
        #expect(try refusal("  mode: shared\n  head: tip\ngroup: g").field == "model.head")
        #expect(try refusal("  mode: shared\n  head: kalman-diagonal\ngroup: g").field == "model.head")
        #expect(try refusal("  mode: shared\n  kalman:\n    covariance: diagonal\ngroup: g").field == "model.kalman.covariance")
        #expect(try refusal("  mode: shared\n  kalman:\n    precision: float32\ngroup: g").field == "model.kalman.precision")
        var fromEnvironment = try PipelineConfiguration.parse(yaml: "model:\n  classes: x\n  mode: shared")
        try fromEnvironment.applyEnvironment(["STREAMADAPT_GROUP": "h"])
        #expect(fromEnvironment.modelMode == .shared)
        try fromEnvironment.validate()
        #expect(throws: ConfigurationError.self) {
            try PipelineConfiguration.parse(yaml: "model:\n  classes: x\n  kalman:\n    forgettingUnit: minute")
        }
    }

    @Test(arguments: [
        ("model:\n  kalman:\n    forgeting: 0.9", "model.kalman.forgeting",
         "covariance, forgetting, forgettingUnit, initialNoise, initialScale, logitScale, mahalanobisScaling, minimumNoise, noiseMemory, observation, outputScale, precision, priorVariance, target, targetScale, traceBound"),
        ("metric:\n  port: 1", "metric",
         "checkpoint, drift, group, input, kafka, metrics, model, name, topics"),
        ("kafka:\n  bootstrapServers: x", "kafka.bootstrapServers",
         "bootstrap, outageLimitSeconds, properties, stopTimeoutSeconds"),
    ])
    func unknownKeysNameTheKnownOnes(yaml: String, field: String, known: String) throws {
        let error = try #require(throws: ConfigurationError.self) { try PipelineConfiguration.parse(yaml: yaml) }
        #expect(error.field == field)
        #expect(error.reason == "unknown setting (known here: \(known))")
    }

    @Test func aSettingIsNotASectionAndASectionIsNotASetting() throws {
        let nested = try #require(throws: ConfigurationError.self) {
            try PipelineConfiguration.parse(yaml: "model:\n  head:\n    name: kalman")
        }
        #expect(nested.field == "model.head" && nested.reason == "must be a string")
        let scalar = try #require(throws: ConfigurationError.self) { try PipelineConfiguration.parse(yaml: "drift: 3") }
        #expect(scalar.field == "drift" && scalar.reason == "must be a mapping")
        let empty = try PipelineConfiguration.parse(yaml: "model:\n  classes: x\nkafka:\n  properties:\n")
        #expect(empty.kafkaProperties.isEmpty)
    }
}
