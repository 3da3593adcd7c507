import Foundation
import Testing

@testable import StreamAdaptCore

/// A stream of events around the class embeddings, with a shift part-way through (so the drift scorer
/// calibrates, flags and raises alerts), and a seeded share of labelled events.
struct CheckpointStream {
    var events: [(embedding: [Float], label: Int?)] = []

    init(classes: [[Float]], count: Int, shiftAt: Int, labelFraction: Double, seed: UInt64) {
        var random = TestRandom(seed: seed)
        let d = classes[0].count
        let shift = random.unitVector(d)
        for t in 0..<count {
            let label = Int(random.generator.next() % UInt64(classes.count))
            let noise = random.unitVector(d)
            var x = (0..<d).map { Double(classes[label][$0]) + 0.35 * noise[$0] }
            if t >= shiftAt { for j in 0..<d { x[j] += 1.2 * shift[j] } }
            let labelled = (random.uniform() + 1) / 2 < labelFraction
            events.append((x.map(Float.init), labelled ? label : nil))
        }
    }
}

@Suite struct CheckpointTests {
    static let classCount = 3
    static let dimension = 8
    let values: [Float]
    let classes: ClassEmbeddings
    let stream: CheckpointStream

    init() throws {
        BLAS.setThreads(1)  // runs compared within a test must round alike
        var random = TestRandom(seed: 2024)
        let d = Self.dimension
        let values = (0..<(Self.classCount * d)).map { _ in Float(random.uniform()) }
        self.values = values
        classes = try ClassEmbeddings(names: (0..<Self.classCount).map { "class\($0)" }, dimension: d, values: values)
        let rows = (0..<Self.classCount).map { Array(values[($0 * d)..<(($0 + 1) * d)]) }
        stream = CheckpointStream(classes: rows, count: 420, shiftAt: 230, labelFraction: 0.6, seed: 77)
    }

    /// Short calibration and windows so that 420 events exercise every part of the drift state.
    static var drift: DriftSettings {
        var drift = DriftSettings()
        drift.mahalanobis.warmupEvents = 20
        drift.mahalanobis.referenceEvents = 30
        drift.mahalanobis.refreshInterval = 7
        drift.mahalanobis.calibrationRefreshInterval = 7
        drift.inputWindow = 10
        drift.accuracyMinimumEvents = 20
        drift.accuracyWindow = 30
        drift.accuracyThreshold = 5
        return drift
    }

    /// Small caches, a reservoir sampler and a short CLIPood horizon, so that eviction, the sampler and
    /// horizon restarts happen before and after the checkpoint.
    static var heads: HeadSettings {
        var heads = HeadSettings()
        heads.tip.shotsPerClass = 3
        heads.tip.eviction = .reservoir
        heads.clipood.horizon = 17
        heads.kalman.forgetting = 0.99
        return heads
    }

    func makeModel(
        _ spec: String, classes: ClassEmbeddings? = nil, heads: HeadSettings = Self.heads, drift: DriftSettings = Self.drift
    ) throws -> StreamModel {
        let classes = classes ?? self.classes
        return StreamModel(classes: classes, head: try heads.makeHead(spec, classes: classes), drift: drift)
    }

    func sealed(_ model: StreamModel) -> [UInt8] { Checkpoint.seal(payload: model.checkpointPayload()) }

    func restored(_ spec: String, from bytes: [UInt8], drift: DriftSettings = Self.drift) throws -> StreamModel {
        let model = try makeModel(spec, drift: drift)
        var reader = try CheckpointReader(sealed: bytes)
        try model.restore(from: &reader)
        try reader.finish()
        return model
    }

    // MARK: Exact continuation

    @Test(arguments: ["zeroshot", "kalman", "kalman-diagonal", "tip", "tipx", "clipood", "kalman+tip", "zeroshot+tipx+clipood"])
    func restoredModelContinuesBitIdentically(spec: String) throws {
        let (original, _, _) = try checkpointedRun(spec, drift: Self.drift)
        #expect(original.scorer != nil)
        #expect(!original.alerts.isEmpty, "the stream should raise an alert after the shift")
    }

    @Test func checkpointsTakenRepeatedlyChainExactly() throws {
        // Restore, run, checkpoint, restore again (as a daemon that is killed several times).
        let spec = "kalman+tip"
        let reference = try makeModel(spec)
        var current = try makeModel(spec)
        for (t, (x, label)) in stream.events.enumerated() {
            if t > 0 && t % 37 == 0 { current = try restored(spec, from: sealed(current)) }
            #expect(try reference.process(x, label: label) == current.process(x, label: label))
        }
        #expect(reference.checkpointPayload() == current.checkpointPayload())
    }

    @Test func headsRestoreOnTheirOwn() throws {
        var random = TestRandom(seed: 5)
        for spec in ["kalman", "kalman-diagonal", "tipx", "clipood", "zeroshot", "clipood+kalman"] {
            let a = try Self.heads.makeHead(spec, classes: classes)
            for t in 0..<60 { a.step(random.unitVector(Self.dimension), label: t % Self.classCount) }
            var writer = CheckpointWriter()
            a.save(to: &writer)
            let b = try Self.heads.makeHead(spec, classes: classes)
            var reader = CheckpointReader(writer.bytes)
            try b.restore(from: &reader)
            try reader.finish()
            for t in 0..<40 {
                let x = random.unitVector(Self.dimension)
                #expect(a.logits(x).map(\.bitPattern) == b.logits(x).map(\.bitPattern), "\(spec)")
                a.learn(label: t % Self.classCount, context: LearnContext(mahalanobis2: 3))
                b.learn(label: t % Self.classCount, context: LearnContext(mahalanobis2: 3))
            }
            var after = (CheckpointWriter(), CheckpointWriter())
            a.save(to: &after.0)
            b.save(to: &after.1)
            #expect(after.0.bytes == after.1.bytes, "\(spec)")
        }
    }

    // MARK: Daemon fields after the model

    @Test func callerFieldsFollowTheModelAndCommitIsDeferred() throws {
        let original = try makeModel("kalman")
        for (x, label) in stream.events[..<100] { _ = try original.process(x, label: label) }
        var writer = CheckpointWriter()
        original.save(to: &writer)
        writer.writeString("offsets")
        writer.writeInts([12, 7, 0])
        let bytes = Checkpoint.seal(payload: writer.bytes)

        let copy = try makeModel("kalman")
        let before = copy.checkpointPayload()
        var reader = try CheckpointReader(sealed: bytes)
        let commit = try copy.prepareRestore(from: &reader)
        #expect(copy.checkpointPayload() == before, "prepareRestore must not change the model")
        #expect(try reader.readString() == "offsets")
        #expect(try reader.readInts() == [12, 7, 0])
        try reader.finish()
        commit.apply()
        #expect(copy.checkpointPayload() == original.checkpointPayload())

        // The payload-only convenience refuses the extra fields, and leaves the model alone.
        let fresh = try makeModel("kalman")
        let freshBytes = fresh.checkpointPayload()
        let error = try #require(throws: CheckpointError.self) { try fresh.restore(payload: writer.bytes) }
        #expect(error.code == .corrupt)
        #expect(fresh.checkpointPayload() == freshBytes)
    }

    // MARK: Container

    @Test func crc32KnownValues() {
        #expect(Checkpoint.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Checkpoint.crc32([]) == 0)
        #expect(Checkpoint.crc32(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        let a = Array("12345".utf8)
        let b = Array("6789".utf8)
        let continued = b.withUnsafeBytes { Checkpoint.crc32($0, initial: Checkpoint.crc32(a)) }
        #expect(continued == 0xCBF4_3926)
    }

    @Test func containerLayout() throws {
        let payload: [UInt8] = [1, 2, 3]
        let bytes = Checkpoint.seal(payload: payload)
        #expect(Array(bytes[0..<8]) == Array("SADAPT".utf8) + [0, 1])
        #expect(Array(bytes[8..<12]) == [4, 0, 0, 0])
        #expect(Array(bytes[12..<20]) == [3, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[20..<23]) == payload)
        let crc = Checkpoint.crc32(payload)
        #expect(Array(bytes[23..<27]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        #expect(bytes.count == 27)
        #expect(try Checkpoint.open(bytes) == payload)
        #expect(try Checkpoint.open(Checkpoint.seal(payload: [])) == [])
    }

    @Test func corruptedByteIsAChecksumError() throws {
        let model = try makeModel("kalman+tip")
        for (x, label) in stream.events[..<60] { _ = try model.process(x, label: label) }
        let bytes = sealed(model)
        for position in [Checkpoint.headerSize, Checkpoint.headerSize + 1000, bytes.count / 2, bytes.count - 5, bytes.count - 1] {
            var damaged = bytes
            damaged[position] ^= 0x10
            let error = try #require(throws: CheckpointError.self) { try restored("kalman+tip", from: damaged) }
            #expect(error.code == .checksumMismatch, "byte \(position): \(error)")
        }
    }

    @Test func truncatedCheckpointIsRefused() throws {
        let model = try makeModel("clipood")
        for (x, label) in stream.events[..<60] { _ = try model.process(x, label: label) }
        let bytes = sealed(model)
        for length in [0, 5, 12, 19, 20, bytes.count / 2, bytes.count - 1] {
            let error = try #require(throws: CheckpointError.self) { try Checkpoint.open(Array(bytes[..<length])) }
            #expect(error.code == .truncated, "length \(length): \(error)")
        }
        // A short payload in an intact container (a writer that stopped early) fails while reading.
        let payload = model.checkpointPayload()
        for length in [0, 10, payload.count / 3, payload.count - 1] {
            let shortBytes = Checkpoint.seal(payload: Array(payload[..<length]))
            let error = try #require(throws: CheckpointError.self) { try restored("clipood", from: shortBytes) }
            #expect(error.code == .truncated || error.code == .corrupt, "length \(length): \(error)")
        }
        // Bytes after the checksum.
        let error = try #require(throws: CheckpointError.self) { try Checkpoint.open(bytes + [0]) }
        #expect(error.code == .corrupt)
    }

    @Test func otherVersionAndMagicAreRefused() throws {
        let payload = try makeModel("kalman").checkpointPayload()
        #expect(Checkpoint.formatVersion == 4)
        for version: UInt32 in [0, 1, 2, 3, 5, 0x0100_0000] {
            let error = try #require(throws: CheckpointError.self) {
                try Checkpoint.open(Checkpoint.seal(payload: payload, version: version))
            }
            #expect(error.code == .unsupportedVersion)
        }
        var bytes = Checkpoint.seal(payload: payload)
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: CheckpointError(code: .wrongMagic, message: "the bytes do not start with the StreamAdapt checkpoint magic")) {
            try Checkpoint.open(bytes)
        }
        let text = Array("{\"not\": \"a checkpoint\"}".utf8)
        let textError = try #require(throws: CheckpointError.self) { try Checkpoint.open(text) }
        #expect(textError.code == .wrongMagic)
    }

    // MARK: Mismatched models

    func restoreError(_ checkpoint: StreamModel, into target: StreamModel) throws -> CheckpointError {
        let bytes = sealed(checkpoint)
        let before = target.checkpointPayload()
        var reader = try CheckpointReader(sealed: bytes)
        let error = try #require(throws: CheckpointError.self) { try target.restore(from: &reader) }
        #expect(target.checkpointPayload() == before, "a failed restore must leave the model unchanged")
        return error
    }

    @Test func differentDimensionIsRefused() throws {
        var random = TestRandom(seed: 9)
        let wider = try random.classes(Self.classCount, Self.dimension + 1)
        let error = try restoreError(try makeModel("kalman"), into: try makeModel("kalman", classes: wider))
        #expect(error.code == .shapeMismatch)
        #expect(error.field == "classes.dimension")
        #expect(error.description.contains("classes.dimension"))
    }

    @Test func differentClassesAreRefused() throws {
        let renamed = try ClassEmbeddings(names: ["class0", "other", "class2"], dimension: Self.dimension, values: values)
        let error = try restoreError(try makeModel("kalman"), into: try makeModel("kalman", classes: renamed))
        #expect(error.code == .configurationMismatch)
        #expect(error.field == "classes.names")
        #expect(error.message.contains("other"))

        let fewer = try ClassEmbeddings(
            names: ["class0", "class1"], dimension: Self.dimension, values: Array(values[..<(2 * Self.dimension)]))
        #expect(try restoreError(try makeModel("tip"), into: try makeModel("tip", classes: fewer)).field == "classes.names")

        var moved = values
        moved[3] += 0.5
        let changed = try ClassEmbeddings(names: classes.names, dimension: Self.dimension, values: moved)
        let embeddingError = try restoreError(try makeModel("tip"), into: try makeModel("tip", classes: changed))
        #expect(embeddingError.code == .configurationMismatch)
        #expect(embeddingError.field == "classes.embeddings")
    }

    @Test func differentHeadIsRefused() throws {
        let error = try restoreError(try makeModel("kalman"), into: try makeModel("tip"))
        #expect(error.code == .configurationMismatch)
        #expect(error.field == "head")
        #expect(error.message.contains("kalman") && error.message.contains("tip"))
        #expect(try restoreError(try makeModel("kalman"), into: try makeModel("kalman+tip")).field == "head")
        #expect(try restoreError(try makeModel("kalman+tip"), into: try makeModel("kalman+tipx")).field == "head")
        #expect(try restoreError(try makeModel("kalman"), into: try makeModel("kalman-diagonal")).field == "head")
    }

    /// A stored configuration that lacks a field the model has (a field added since, such as the Kalman
    /// head's `precision` or the cache heads' `affinityCorrection`) is refused whatever the model's
    /// value, naming the field: no value is implied (a new field needs a new format version).
    @Test func aStoredConfigurationWithoutAFieldIsRefused() throws {
        struct Before { var forgetting = 0.5 }
        struct After {
            var forgetting = 0.5
            var precision = KalmanConfiguration.Precision.float64
        }
        var writer = CheckpointWriter()
        writer.writeConfiguration(Before(), prefix: "kalman")
        var float32 = After()
        float32.precision = .float32
        for head in [After(), float32] {
            var reader = CheckpointReader(writer.bytes)
            let error = try #require(throws: CheckpointError.self) { try reader.expectConfiguration(head, prefix: "kalman") }
            #expect(error.field == "kalman.precision")
        }
    }

    @Test func differentConfigurationIsRefused() throws {
        var heads = Self.heads
        heads.kalman.forgetting = 0.999
        let error = try restoreError(try makeModel("kalman"), into: try makeModel("kalman", heads: heads))
        #expect(error.code == .configurationMismatch)
        #expect(error.field == "kalman.forgetting")

        heads = Self.heads
        heads.tip.eviction = .fifo
        #expect(try restoreError(try makeModel("tip"), into: try makeModel("tip", heads: heads)).field == "tip.eviction")

        var drift = Self.drift
        drift.mahalanobis.warmupEvents = 21
        #expect(
            try restoreError(try makeModel("zeroshot"), into: try makeModel("zeroshot", drift: drift)).field
                == "drift.mahalanobis.warmupEvents")
        drift = Self.drift
        drift.inputWindow = 11
        #expect(try restoreError(try makeModel("zeroshot"), into: try makeModel("zeroshot", drift: drift)).field == "drift.inputWindow")
        drift = Self.drift
        drift.inputScoring = false
        #expect(try restoreError(try makeModel("kalman"), into: try makeModel("kalman", drift: drift)).field == "drift.inputScoring")
    }

    /// Runs `stream` through a model with `drift` up to event 160 (with the scorer, if any, calibrated
    /// by then), restores a checkpoint of it into a fresh model and checks that the copy's state equals
    /// the original's; runs both on to the end and checks that every result, the alerts, the last
    /// probabilities and the final state agree. Returns the original, its copy and the original's results.
    func checkpointedRun(_ spec: String, drift: DriftSettings) throws -> (StreamModel, StreamModel, [EventResult]) {
        let original = try makeModel(spec, drift: drift)
        let split = 160
        for (x, label) in stream.events[..<split] { _ = try original.process(x, label: label) }
        if let scorer = original.scorer {
            #expect(scorer.threshold != nil, "the scorer must be calibrated before the checkpoint")
        }
        let copy = try restored(spec, from: sealed(original), drift: drift)
        #expect(copy.checkpointPayload() == original.checkpointPayload())
        #expect(copy.eventCount == split)
        #expect(copy.head.updateCount == original.head.updateCount)
        var results: [EventResult] = []
        for (x, label) in stream.events[split...] {
            let a = try original.process(x, label: label)
            let b = try copy.process(x, label: label)
            #expect(a == b)
            results.append(a)
        }
        #expect(original.alerts == copy.alerts)
        #expect(original.checkpointPayload() == copy.checkpointPayload())
        #expect(original.probabilities.array.map(\.bitPattern) == copy.probabilities.array.map(\.bitPattern))
        return (original, copy, results)
    }

    @Test func modelWithAProjectedScorerRestoresAndContinuesBitIdentically() throws {
        var drift = Self.drift
        drift.mahalanobis.projection = 4
        let (original, _, _) = try checkpointedRun("kalman", drift: drift)
        #expect(original.scorer?.dimension == 4)
        // A checkpoint of the unprojected scorer is refused by name.
        #expect(try restoreError(try makeModel("kalman"), into: try makeModel("kalman", drift: drift)).field == "drift.mahalanobis.projection")
    }

    @Test func modelWithoutInputScoringRestoresAndContinuesBitIdentically() throws {
        var drift = Self.drift
        drift.inputScoring = false
        let (original, copy, results) = try checkpointedRun("kalman", drift: drift)
        #expect(original.scorer == nil && copy.scorer == nil)
        #expect(results.allSatisfy { $0.mahalanobis2 == nil && !$0.drifting })
        // No scorer state: the payload is smaller than a scoring model's by at least the upper triangles
        // of its covariance (Float64) and Cholesky factor (Float32).
        let scoring = try makeModel("kalman")
        let d = Self.dimension
        #expect(scoring.checkpointPayload().count - original.checkpointPayload().count >= (8 + 4) * d * (d + 1) / 2)
    }

    @Test func failureLateInTheModelLeavesEverythingUnchanged() throws {
        // The head section is complete and valid; the payload ends half-way through the scorer's section.
        let source = try makeModel("kalman+clipood")
        for (x, label) in stream.events[..<120] { _ = try source.process(x, label: label) }
        let payload = source.checkpointPayload()
        var headOnly = CheckpointWriter()
        source.head.save(to: &headOnly)
        var scorerOnly = CheckpointWriter()
        try #require(source.scorer).save(to: &scorerOnly)
        // Where the head's bytes sit in the payload; the scorer's follow them directly.
        let headStart = try #require(
            (0...(payload.count - headOnly.count)).first { payload[$0..<($0 + headOnly.count)].elementsEqual(headOnly.bytes) })
        let scorerStart = headStart + headOnly.count
        #expect(scorerOnly.count > 100)
        #expect(payload.count >= scorerStart + scorerOnly.count)
        #expect(payload[scorerStart..<min(payload.count, scorerStart + scorerOnly.count)].elementsEqual(scorerOnly.bytes))
        let cut = Array(payload[..<(scorerStart + scorerOnly.count / 2)])

        let target = try makeModel("kalman+clipood")
        for (x, label) in stream.events[200..<260] { _ = try target.process(x, label: label) }
        let before = target.checkpointPayload()
        let error = try #require(throws: CheckpointError.self) { try target.restore(payload: cut) }
        #expect(error.code == .truncated)
        #expect(target.checkpointPayload() == before)
    }

    // MARK: Encoding

    @Test func primitivesRoundTrip() throws {
        var writer = CheckpointWriter()
        writer.writeUInt8(0xAB)
        writer.writeBool(true)
        writer.writeBool(false)
        writer.writeUInt32(0xDEAD_BEEF)
        writer.writeUInt64(UInt64.max - 1)
        writer.writeInt(-42)
        writer.writeInt(Int.min)
        let nan = Double(nan: 0x1234, signaling: false)
        writer.writeDouble(-0.0)
        writer.writeDouble(nan)
        writer.writeDouble(.infinity)
        writer.writeDouble(.leastNonzeroMagnitude)
        writer.writeString("")
        writer.writeString("énorme ✓ 猫")
        writer.writeOptionalDouble(nil)
        writer.writeOptionalDouble(2.5)
        writer.writeOptionalInt(7)
        writer.writeDoubles([1, 2, 3])
        writer.writeInts([])
        writer.writeBools([true, false, true])
        writer.writeMatrix(Matrix(rows: 2, columns: 3, values: [1, 2, 3, 4, 5, 6]))
        // Upper triangles: row by row from the diagonal; the lower entries (7, 8, 9) are not stored.
        writer.writeUpperTriangle(Matrix(rows: 3, columns: 3, values: [1, 2, 3, 7, 4, 5, 8, 9, 6]))
        let floats: [Float] = [1.5, -2, .pi, 7, 4, 0.25, 8, 9, 1e-30]
        floats.withUnsafeBufferPointer { writer.writeUpperTriangle($0.baseAddress!, dimension: 3) }
        #expect(Array(writer.bytes[3..<7]) == [0xEF, 0xBE, 0xAD, 0xDE])

        var reader = CheckpointReader(writer.bytes)
        #expect(try reader.readUInt8() == 0xAB)
        #expect(try reader.readBool() == true)
        #expect(try reader.readBool() == false)
        #expect(try reader.readUInt32() == 0xDEAD_BEEF)
        #expect(try reader.readUInt64() == UInt64.max - 1)
        #expect(try reader.readInt() == -42)
        #expect(try reader.readInt() == Int.min)
        #expect(try reader.readDouble().bitPattern == (-0.0).bitPattern)
        #expect(try reader.readDouble().bitPattern == nan.bitPattern)
        #expect(try reader.readDouble() == .infinity)
        #expect(try reader.readDouble() == .leastNonzeroMagnitude)
        #expect(try reader.readString() == "")
        #expect(try reader.readString() == "énorme ✓ 猫")
        #expect(try reader.readOptionalDouble() == nil)
        #expect(try reader.readOptionalDouble() == 2.5)
        #expect(try reader.readOptionalInt() == 7)
        #expect(try reader.readDoubles() == [1, 2, 3])
        #expect(try reader.readInts() == [])
        #expect(try reader.readBools() == [true, false, true])
        let shapeError = try #require(throws: CheckpointError.self) {
            var copy = reader
            _ = try copy.readMatrix(rows: 3, columns: 2, field: "test.matrix")
        }
        #expect(shapeError.code == .shapeMismatch && shapeError.field == "test.matrix")
        #expect(try reader.readMatrix(rows: 2, columns: 3, field: "test.matrix") == [1, 2, 3, 4, 5, 6])
        #expect(throws: CheckpointError.self) {
            var copy = reader
            _ = try copy.readUpperTriangle(dimension: 4, field: "test.triangle")
        }
        let triangle = try reader.readUpperTriangle(dimension: 3, field: "test.triangle")
        #expect(triangle == [1, 2, 3, 4, 5, 6])
        let square = Matrix(rows: 3, columns: 3, value: -1)
        square.assignUpperTriangle(triangle)
        #expect(square.array == [1, 2, 3, 0, 4, 5, 0, 0, 6])
        let floatTriangle = try reader.readFloatUpperTriangle(dimension: 3, field: "test.floats")
        #expect(floatTriangle.map(\.bitPattern) == ([1.5, -2, .pi, 4, 0.25, 1e-30] as [Float]).map(\.bitPattern))
        try reader.finish()
        #expect(throws: CheckpointError.self) { try reader.readUInt8() }
    }

    @Test func malformedValuesAreErrorsNotTraps() throws {
        var reader = CheckpointReader([2])
        #expect((try? reader.readBool()) == nil)
        var huge = CheckpointWriter()
        huge.writeUInt64(UInt64.max)
        reader = CheckpointReader(huge.bytes)
        #expect(throws: CheckpointError.self) { try reader.readString() }
        reader = CheckpointReader(huge.bytes)
        #expect(throws: CheckpointError.self) { try reader.readDoubles() }
        var badUTF8 = CheckpointWriter()
        badUTF8.writeUInt64(2)
        badUTF8.writeRawBytes([0xC3, 0x28])
        reader = CheckpointReader(badUTF8.bytes)
        let error = try #require(throws: CheckpointError.self) { try reader.readString() }
        #expect(error.code == .corrupt)
    }
}
