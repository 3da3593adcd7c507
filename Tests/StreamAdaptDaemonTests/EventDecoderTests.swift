import Testing

@testable import StreamAdaptCore
@testable import StreamAdaptDaemon

@Suite struct EventDecoderTests {
    func decode(_ text: String, dimension: Int = 3, maximumBytes: Int = 1 << 20) throws(InputError) -> (DecodedEvent, [Float]) {
        let decoder = EventDecoder(dimension: dimension, maximumBytes: maximumBytes)
        let bytes = Array(text.utf8)
        let result: Result<DecodedEvent, InputError> = bytes.withUnsafeBytes { raw in
            Result { () throws(InputError) in try decoder.decodeJSON(raw) }
        }
        return (try result.get(), Array(decoder.embedding.prefix(decoder.count)))
    }

    @Test func jsonEventWithEveryField() throws {
        let (event, embedding) = try decode(#"{"id": "a\"b\u00e9", "embedding": [1, -2.5e-1, 3E2], "label": 2, "ts": 1700000000123, "extra": {"x": [true, null]}}"#)
        #expect(event == DecodedEvent(id: "a\"bé", label: .index(2), timestamp: 1_700_000_000_123))
        #expect(embedding == [1, -0.25, 300])
    }

    @Test func labelByNameNullOrAbsent() throws {
        #expect(try decode(#"{"id":"x","embedding":[0,0,1],"label":"sandal"}"#).0.label == .name("sandal"))
        #expect(try decode(#"{"id":"x","embedding":[0,0,1],"label":null}"#).0.label == .none)
        #expect(try decode(#"{"embedding":[0,0,1],"id":7}"#).0 == DecodedEvent(id: "7", label: .none, timestamp: nil))
    }

    @Test func numbersParseExactlyLikeSwift() throws {
        let values = ["0.1", "123456.789", "-0.000123", "1e-7", "6.02214076e23", "0.30000000000000004", "12345678901234567890"]
        for text in values {
            let (_, embedding) = try decode("{\"id\":\"n\",\"embedding\":[\(text),0,0]}")
            #expect(embedding[0] == Float(Double(text)!), "\(text)")
        }
    }

    @Test(arguments: [
        ("not json", "unparseable"),
        (#"{"id":"x","embedding":[1,2]}"#, "wrong-dimension"),
        (#"{"id":"x","embedding":[1,2,3,4]}"#, "wrong-dimension"),
        (#"{"id":"x"}"#, "missing-embedding"),
        (#"{"embedding":[1,2,3]}"#, "missing-id"),
        (#"{"id":"x","embedding":[1,2,3],"label":1.5}"#, "wrong-type"),
        (#"{"id":"x","embedding":[1,2,"3"]}"#, "wrong-type"),
        (#"{"id":"x","embedding":[1,2,3]} trailing"#, "unparseable"),
        (#"{"id":"x","embedding":[1,2,3]"#, "unparseable"),
    ])
    func badEventsAreTypedErrors(text: String, code: String) {
        #expect(throws: InputError.self) { try decode(text) }
        do {
            _ = try decode(text)
        } catch {
            #expect(error.code.rawValue == code, "\(text): \(error)")
        }
    }

    @Test func oversizedMessagesAreRefusedBeforeParsing() {
        // Invalid JSON longer than the limit: the size check comes first, so the reason is the size.
        let garbage = "{ this is not json at all"
        #expect(garbage.utf8.count > 16)
        do {
            _ = try decode(garbage, maximumBytes: 16)
            Issue.record("expected an error")
        } catch {
            #expect(error.code.rawValue == "oversized", "\(error)")
        }
        // Within the limit the same bytes are parsed, and refused as unparseable.
        do {
            _ = try decode(garbage, maximumBytes: garbage.utf8.count)
            Issue.record("expected an error")
        } catch {
            #expect(error.code.rawValue == "unparseable", "\(error)")
        }
        // A valid event over the limit is refused too.
        do {
            _ = try decode(#"{"id":"x","embedding":[1,2,3]}"#, maximumBytes: 16)
            Issue.record("expected an error")
        } catch {
            #expect(error.code.rawValue == "oversized", "\(error)")
        }
    }

    @Test func binaryEvents() throws {
        let decoder = EventDecoder(dimension: 2)
        let values: [Float] = [0.5, -1.25]
        let event = try values.withUnsafeBytes { try decoder.decodeBinary($0, id: "b1", label: "3", timestamp: 5) }
        #expect(event == DecodedEvent(id: "b1", label: .index(3), timestamp: 5))
        #expect(Array(decoder.embedding) == values)
        let named = try values.withUnsafeBytes { try decoder.decodeBinary($0, id: "b2", label: "coat", timestamp: nil) }
        #expect(named.label == .name("coat"))
        do {
            _ = try [Float(1)].withUnsafeBytes { try decoder.decodeBinary($0, id: "b3", label: nil, timestamp: nil) }
            Issue.record("expected an error")
        } catch let error as InputError {
            #expect(error.code.rawValue == "wrong-dimension")
        }
    }
}

@Suite struct PipelineConfigurationTests {
    @Test func readsEverySectionAndKeepsDefaults() throws {
        let config = try PipelineConfiguration.parse(yaml: """
            name: p
            kafka:
              bootstrap: broker:9093
              properties:
                security.protocol: SASL_SSL
            topics:
              input: in
              labels: feedback
            model:
              classes: /data/classes
              head: kalman+tip
              kalman:
                forgetting: 0.99
                observation: softmax
              tip:
                shotsPerClass: 8
            drift:
              inputScoring: false
              warmupEvents: 10
              refreshInterval: 250
            checkpoint:
              directory: /tmp/c
              everyEvents: 7
            metrics:
              port: 0
            """)
        #expect(config.bootstrapServers == "broker:9093")
        #expect(config.kafkaProperties == ["security.protocol": "SASL_SSL"])
        #expect(config.inputTopic == "in" && config.labelsTopic == "feedback" && config.predictionsTopic == "predictions")
        #expect(config.head == "kalman+tip")
        #expect(config.heads.kalman.observation == .softmax && config.heads.kalman.forgetting == 0.99)
        #expect(config.heads.kalman.priorVariance == KalmanConfiguration.softmaxDefaults.priorVariance)
        #expect(config.heads.tip.shotsPerClass == 8)
        #expect(config.drift.mahalanobis.warmupEvents == 10 && config.drift.mahalanobis.referenceEvents == 1000)
        #expect(config.drift.inputScoring == false)
        #expect(config.drift.mahalanobis.refreshInterval == 250 && config.drift.mahalanobis.calibrationRefreshInterval == 100)
        #expect(config.checkpointDirectory == "/tmp/c" && config.checkpointEveryEvents == 7)
        #expect(config.metricsPort == 0)
        try config.validate()
    }

    @Test(arguments: [
        ("model:\n  classes: x\n  kalman:\n    forgeting: 0.9", "model.kalman.forgeting"),
        ("model:\n  classes: x\n  kalman:\n    forgetting: 1.5", "kalman.forgetting"),
        ("model:\n  classes: x\ndrift:\n  warmupEvents: many", "drift.warmupEvents"),
        ("model:\n  classes: x\ndrift:\n  inputScoring: maybe", "drift.inputScoring"),
        ("model:\n  classes: x\ndrift:\n  calibrationRefreshInterval: 0", "drift.calibrationRefreshInterval"),
        ("topics:\n  input: a", "model.classes"),
        ("model:\n  classes: x\nmetrics:\n  port: 70000", "metrics.port"),
        ("model:\n  classes: x\n  head: kalman+magic", "heads"),
        ("model: [1, 2]", "model"),
    ])
    func wrongSettingsNameTheirField(yaml: String, field: String) {
        do {
            var config = try PipelineConfiguration.parse(yaml: yaml)
            try config.applyEnvironment([:])
            try config.validate()
            let classes = try ClassEmbeddings(names: ["a"], dimension: 1, values: [1])
            _ = try config.heads.makeHead(config.head, classes: classes)
            Issue.record("expected an error for \(field)")
        } catch {
            #expect((error as? ConfigurationError)?.field == field, "\(type(of: error)): \(error)")
        }
    }

    @Test func environmentOverridesTheFile() throws {
        var config = try PipelineConfiguration.parse(yaml: "model:\n  classes: x")
        try config.applyEnvironment(["STREAMADAPT_BOOTSTRAP": "h:1", "STREAMADAPT_METRICS_PORT": "9999"])
        #expect(config.bootstrapServers == "h:1" && config.metricsPort == 9999)
        #expect(throws: ConfigurationError.self) { try config.applyEnvironment(["STREAMADAPT_METRICS_PORT": "x"]) }
    }
}

extension EventDecoder {
    /// A binary event with this id and label header (as text), for tests.
    func decodeBinary(_ value: UnsafeRawBufferPointer, id: String, label: String?, timestamp: Int64?) throws -> DecodedEvent {
        let idBytes = Array(id.utf8)
        let labelBytes = label.map { Array($0.utf8) } ?? []
        return try idBytes.withUnsafeBytes { idBuffer in
            try labelBytes.withUnsafeBytes { labelBuffer in
                try decodeBinary(
                    value, idHeader: idBuffer, key: nil, labelHeader: label == nil ? nil : labelBuffer, timestamp: timestamp,
                    fallbackID: "-")
            }
        }
    }
}
