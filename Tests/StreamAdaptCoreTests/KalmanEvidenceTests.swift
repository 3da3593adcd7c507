import Testing

@testable import StreamAdaptCore

/// The information-form fold of the Kalman head: evidence of disjoint event sets adds, and the fold of
/// the parts equals the head that learned every event one by one (the exact case: Gaussian observation,
/// one-hot target, fixed noise, no Mahalanobis regulation, forgetting 1).
@Suite struct KalmanEvidenceTests {
    static func exactConfiguration() -> KalmanConfiguration {
        var config = KalmanConfiguration()
        config.target = .oneHot
        config.forgetting = 1
        config.noiseMemory = 1
        config.mahalanobisScaling = 0
        return config
    }

    @Test func theFoldOfFourPartitionsEqualsTheSequentialHead() throws {
        BLAS.setThreads(1)
        let (d, c, n) = (24, 5, 400)
        var random = SplitMix64(seed: 11)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) - 0.5 }
        let classes = try ClassEmbeddings(names: (0..<c).map { "c\($0)" }, dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
        let config = Self.exactConfiguration()
        #expect(KalmanEvidence.isExact(for: config))
        #expect(!KalmanEvidence.isExact(for: KalmanConfiguration()))
        let sequential = KalmanHead(classes: classes, configuration: config)
        let parts = (0..<4).map { _ in KalmanEvidence(dimension: d, classCount: c) }
        let logits = UnsafeMutablePointer<Double>.allocate(capacity: c)
        defer { logits.deallocate() }
        var x = [Double](repeating: 0, count: d)
        for i in 0..<n {
            let label = Int(random.next() % UInt64(c))
            for j in 0..<d { x[j] = uniform() + (j % c == label ? 0.8 : 0) }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { x[j] /= norm }
            _ = sequential.predict(x, logits: logits)
            sequential.learn(label: label, context: LearnContext())
            parts[i % 4].add(x, label: label, targetScale: config.targetScale, noise: config.initialNoise)
        }
        #expect(sequential.noise == config.initialNoise)  // fixed
        let folded = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold(parts, into: folded, classes: classes)
        var worstW = 0.0
        var worstP = 0.0
        for k in 0..<c {
            for j in 0..<d {
                let a = sequential.weights[k, j]
                worstW = max(worstW, abs(folded.weights[k, j] - a) / max(abs(a), 1e-12))
            }
        }
        var largestP = 0.0
        for i in 0..<d { for j in i..<d { largestP = max(largestP, abs(sequential.covarianceEntry(i, j))) } }
        for i in 0..<d {
            for j in i..<d { worstP = max(worstP, abs(folded.covarianceEntry(i, j) - sequential.covarianceEntry(i, j)) / largestP) }
        }
        #expect(worstW < 1e-8, "W relative difference \(worstW)")
        #expect(worstP < 1e-8, "P difference \(worstP) of its largest entry")
        // No evidence: the prior.
        let prior = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold([], into: prior, classes: classes)
        let fresh = KalmanHead(classes: classes, configuration: config)
        for k in 0..<c { for j in 0..<d { #expect(abs(prior.weights[k, j] - fresh.weights[k, j]) < 1e-15) } }
        #expect(abs(prior.covarianceEntry(3, 3) - config.priorVariance) < 1e-15 && prior.covarianceEntry(2, 3) == 0)
    }

    @Test func aFoldRefusesOtherShapesAndCovariances() throws {
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 4, values: [1, 0, 0, 0, 0, 1, 0, 0])
        var diagonal = Self.exactConfiguration()
        diagonal.covariance = .diagonal
        #expect(throws: KalmanEvidenceError.self) {
            try KalmanEvidence.fold([], into: KalmanHead(classes: classes, configuration: diagonal), classes: classes)
        }
        #expect(throws: KalmanEvidenceError.self) {
            try KalmanEvidence.fold([KalmanEvidence(dimension: 5, classCount: 2)], into: KalmanHead(classes: classes, configuration: Self.exactConfiguration()), classes: classes)
        }
        let broken = KalmanEvidence(dimension: 4, classCount: 2)
        broken.information[0, 0] = -1e9
        #expect(throws: KalmanEvidenceError.notPositiveDefinite) {
            try KalmanEvidence.fold([broken], into: KalmanHead(classes: classes, configuration: Self.exactConfiguration()), classes: classes)
        }
    }

    /// No drift scoring or alerts: the head alone.
    static var quiet: DriftSettings {
        var drift = DriftSettings()
        drift.inputScoring = false
        drift.inputAlerts = false
        return drift
    }

    /// Relative differences of W and of P (to P's largest entry) between two heads.
    static func differences(_ a: KalmanHead, _ b: KalmanHead) -> (w: Double, p: Double) {
        var worstW = 0.0
        var worstP = 0.0
        var largestP = 0.0
        let (c, d) = (a.classCount, a.dimension)
        for k in 0..<c { for j in 0..<d { worstW = max(worstW, abs(a.weights[k, j] - b.weights[k, j]) / max(abs(a.weights[k, j]), 1e-12)) } }
        for i in 0..<d { for j in i..<d { largestP = max(largestP, abs(a.covarianceEntry(i, j))) } }
        for i in 0..<d { for j in i..<d { worstP = max(worstP, abs(a.covarianceEntry(i, j) - b.covarianceEntry(i, j)) / largestP) } }
        return (worstW, worstP)
    }

    /// Event-time forgetting: four partition heads, each learning only its own events and recording them,
    /// fold to the head that learned every event in time order (irregular gaps, lambda = 0.97 per second).
    @Test(arguments: [KalmanBlockMode.perEvent, .blocked], [KalmanConfiguration.Target.oneHot, .centred])
    func recordedEvidenceWithEventTimeForgettingFoldsToTheSequentialHead(_ mode: KalmanBlockMode, _ target: KalmanConfiguration.Target) throws {
        BLAS.setThreads(1)
        let (d, c, n, partitions) = (20, 4, 360, 4)
        var random = SplitMix64(seed: 5)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) - 0.5 }
        let classes = try ClassEmbeddings(names: (0..<c).map { "c\($0)" }, dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
        var config = Self.exactConfiguration()
        config.forgetting = 0.97
        config.forgettingUnit = .second
        config.traceBound = .infinity
        config.target = target
        #expect(KalmanEvidence.isExact(for: config))
        var bounded = config
        bounded.traceBound = 1
        #expect(!KalmanEvidence.isExact(for: bounded))
        let block = mode == .blocked ? 16 : 1
        let sequential = StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: config), drift: Self.quiet, maximumBlock: 1)
        let heads = (0..<partitions).map { _ in KalmanHead(classes: classes, configuration: config) }
        let models = heads.map { StreamModel(classes: classes, head: $0, drift: Self.quiet, maximumBlock: block, minimumBlock: 2) }
        for h in heads { h.evidence = KalmanEvidence(for: h) }
        let batches = models.map { $0.makeBatch(capacity: block) }
        var time = 1000.0
        for i in 0..<n {
            let label = Int(random.next() % UInt64(c))
            let x = (0..<d).map { j in Float(uniform() + (j % c == label ? 0.8 : 0)) }
            time += Double(random.next() % 4) * 0.5  // gaps of 0 to 1.5 s, ties included
            _ = try sequential.process(x, label: label, time: time)
            let p = i % partitions
            try batches[p].append(x, label: label, time: time)
            if batches[p].isFull {
                models[p].process(batches[p])
                batches[p].removeAll()
            }
        }
        for (m, b) in zip(models, batches) where b.count > 0 { m.process(b) }
        let folded = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold(heads.map { $0.evidence! }, into: folded, classes: classes)
        let reference = sequential.head as! KalmanHead
        let (w, p) = Self.differences(reference, folded)
        #expect(w < 1e-8, "W relative difference \(w)")
        #expect(p < 1e-8, "P difference \(p) of its largest entry")
        #expect(folded.lastTime == time && reference.lastTime == time)
        // Forgetting did act: without it the fold is far off.
        var unforgetting = config
        unforgetting.forgetting = 1
        let plain = KalmanHead(classes: classes, configuration: unforgetting)
        let plainEvidence = heads.map { h in
            let e = KalmanEvidence(dimension: d, classCount: c, forgetting: 1, unit: .second)
            e.information.copy(from: h.evidence!.information)
            e.projection.copy(from: h.evidence!.projection)
            e.scale = h.evidence!.scale
            return e
        }
        try KalmanEvidence.fold(plainEvidence, into: plain, classes: classes)
        #expect(Self.differences(reference, plain).w > 1e-3)
    }

    /// One partition with per-event forgetting (no trace bound) folds to its own head exactly, through
    /// many renormalisations of the record's lazy scale (0.9 per event: below 1e-8 every 175 events).
    @Test func aRecordForgettingPerEventFoldsToItsHeadThroughRenormalisations() throws {
        let (d, c) = (10, 3)
        var random = SplitMix64(seed: 21)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) - 0.5 }
        let classes = try ClassEmbeddings(names: ["a", "b", "c"], dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
        var config = Self.exactConfiguration()
        config.forgetting = 0.9
        config.traceBound = .infinity
        let head = KalmanHead(classes: classes, configuration: config)
        head.evidence = KalmanEvidence(for: head)
        let model = StreamModel(classes: classes, head: head, drift: Self.quiet, maximumBlock: 1)
        for i in 0..<600 { _ = try model.process((0..<d).map { j in Float(uniform() + (j % c == i % c ? 0.6 : 0)) }, label: i % c) }
        #expect(head.evidence!.count == 600)
        let folded = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold([head.evidence!], into: folded, classes: classes)
        let (w, p) = Self.differences(head, folded)
        #expect(w < 1e-8 && p < 1e-8, "W \(w), P \(p)")
    }

    /// A gap of event time long enough for lambda^dt to underflow: the update forgets by the floor
    /// (1e-8), and the head stays finite.
    @Test func aLongGapInEventTimeKeepsTheHeadFinite() throws {
        let (d, c) = (6, 2)
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: d, values: (0..<(c * d)).map { Float($0 % 5) + 1 })
        var config = Self.exactConfiguration()
        config.forgetting = 0.3
        config.forgettingUnit = .second
        config.traceBound = .infinity
        let head = KalmanHead(classes: classes, configuration: config)
        let model = StreamModel(classes: classes, head: head, drift: Self.quiet)
        _ = try model.process([1, 0, 0, 0, 0, 1], label: 0, time: 0)
        let before = head.covarianceEntry(2, 2)
        _ = try model.process([0, 1, 0, 0, 1, 0], label: 1, time: 5000)  // 0.3^5000 underflows to 0
        #expect(head.covarianceEntry(2, 2) == before / KalmanHead.minimumForgettingFactor)
        let result = try model.process([1, 1, 0, 0, 0, 0], label: 0, time: 5001)
        #expect(result.probability.isFinite && (0..<c).allSatisfy { k in (0..<d).allSatisfy { head.weights[k, $0].isFinite } })
    }

    /// Closed form: with one event per second, forgetting per second is forgetting per event (whose first
    /// update forgets once more: P0 / lambda, so the per-second head starts from that prior).
    @Test func oneEventPerSecondForgetsAsPerEvent() throws {
        let (d, c) = (8, 3)
        var random = SplitMix64(seed: 9)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) - 0.5 }
        let classes = try ClassEmbeddings(names: ["a", "b", "c"], dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
        var perEvent = KalmanConfiguration()
        perEvent.forgetting = 0.95
        perEvent.traceBound = .infinity
        var perSecond = perEvent
        perSecond.forgettingUnit = .second
        perSecond.priorVariance = perEvent.priorVariance / perEvent.forgetting
        let a = StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: perEvent), drift: Self.quiet)
        let b = StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: perSecond), drift: Self.quiet)
        for i in 0..<200 {
            let x = (0..<d).map { _ in Float(uniform()) }
            _ = try a.process(x, label: i % c, time: nil)
            _ = try b.process(x, label: i % c, time: Double(i))
        }
        let (w, p) = Self.differences(a.head as! KalmanHead, b.head as! KalmanHead)
        #expect(w < 1e-12 && p < 1e-12, "W \(w), P \(p)")
    }

    /// The evidence and the head's event time survive a checkpoint; a record of another forgetting is refused.
    @Test func evidenceAndEventTimeRoundTripThroughACheckpoint() throws {
        let (d, c) = (6, 2)
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: d, values: (0..<(c * d)).map { Float($0 % 5) + 1 })
        var config = Self.exactConfiguration()
        config.forgetting = 0.9
        config.forgettingUnit = .second
        let head = KalmanHead(classes: classes, configuration: config)
        let evidence = KalmanEvidence(for: head)
        head.evidence = evidence
        let model = StreamModel(classes: classes, head: head, drift: Self.quiet)
        for i in 0..<30 { _ = try model.process((0..<d).map { Float(($0 + i) % 4) + 0.5 }, label: i % c, time: 10 + Double(i) / 3) }
        var writer = CheckpointWriter()
        evidence.save(to: &writer)
        head.save(to: &writer)
        let copyHead = KalmanHead(classes: classes, configuration: config)
        let copy = KalmanEvidence(for: copyHead)
        var reader = CheckpointReader(writer.bytes)
        try copy.prepareRestore(from: &reader).apply()
        try copyHead.prepareRestore(from: &reader).apply()
        #expect(copy.count == 30 && copy.latestTime == evidence.latestTime && copy.firstTime == 10)
        #expect(copyHead.lastTime == head.lastTime && head.lastTime == 10 + 29.0 / 3)
        for i in 0..<d { for j in i..<d { #expect(abs(copy.information[i, j] - evidence.information[i, j]) <= 1e-15 * abs(evidence.information[i, j])) } }
        for k in 0..<c { for j in 0..<d { #expect(copy.projection[k, j] == evidence.projection[k, j]) } }
        let other = KalmanEvidence(dimension: d, classCount: c, forgetting: 0.8, unit: .second)
        var again = CheckpointReader(writer.bytes)
        #expect(throws: CheckpointError.self) { try other.prepareRestore(from: &again) }
    }
}

enum KalmanBlockMode: String, CustomStringConvertible {
    case perEvent, blocked
    var description: String { rawValue }
}

/// `kalman.forgettingUnit` was added after checkpoints were first written: a configuration stored
/// without it reads as `event`, and only then.
@Suite struct AddedConfigurationFieldTests {
    static func storedWithout(_ suffix: String, _ config: KalmanConfiguration) -> [UInt8] {
        var writer = CheckpointWriter()
        let fields = ConfigurationValue.flatten(config, prefix: "kalman").filter { !$0.name.hasSuffix(suffix) }
        writer.writeSection("configuration")
        writer.writeUInt64(UInt64(fields.count))
        for (name, value) in fields {
            writer.writeString(name)
            switch value {
            case .double(let x): writer.writeUInt8(1); writer.writeDouble(x)
            case .int(let x): writer.writeUInt8(2); writer.writeInt(x)
            case .bool(let x): writer.writeUInt8(3); writer.writeBool(x)
            case .uint64(let x): writer.writeUInt8(4); writer.writeUInt64(x)
            case .string(let x): writer.writeUInt8(5); writer.writeString(x)
            }
        }
        return writer.bytes
    }

    @Test func aConfigurationWithoutTheForgettingUnitReadsAsPerEvent() throws {
        let old = Self.storedWithout(".forgettingUnit", KalmanConfiguration())
        var reader = CheckpointReader(old)
        try reader.expectConfiguration(KalmanConfiguration(), prefix: "kalman")
        var perSecond = KalmanConfiguration()
        perSecond.forgettingUnit = .second
        var again = CheckpointReader(old)
        let error = try #require(throws: CheckpointError.self) { try again.expectConfiguration(perSecond, prefix: "kalman") }
        #expect(error.field == "kalman.forgettingUnit")
        // Any other missing field is still refused.
        var missingForgetting = CheckpointReader(Self.storedWithout(".forgetting", KalmanConfiguration()))
        #expect(throws: CheckpointError.self) { try missingForgetting.expectConfiguration(KalmanConfiguration(), prefix: "kalman") }
    }
}
