import Foundation
import Testing

@testable import StreamAdaptCore

/// Classes added and retired at run time (`docs/classes.md`): every head grows in place, retired
/// classes are masked, checkpoints keep the class set, blocks agree with events across a change.
@Suite struct ClassChangeTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// The first `count` classes of `classes` as a class set (the same normalised rows, bit for bit).
    static func prefix(_ classes: ClassEmbeddings, _ count: Int) throws -> ClassEmbeddings {
        let d = classes.dimension
        let rows = Matrix(rows: count, columns: d, values: Array(classes.normalized.array[0..<(count * d)]))
        return ClassEmbeddings(names: Array(classes.names[0..<count]), normalized: rows)
    }

    /// The classes `kept` of `classes`, in that order.
    static func subset(_ classes: ClassEmbeddings, _ kept: [Int]) -> ClassEmbeddings {
        let d = classes.dimension
        return ClassEmbeddings(
            names: kept.map { classes.names[$0] },
            normalized: Matrix(rows: kept.count, columns: d, values: kept.flatMap { c in (0..<d).map { classes.normalized[c, $0] } }))
    }

    static func row(_ classes: ClassEmbeddings, _ c: Int) -> [Float] {
        (0..<classes.dimension).map { Float(classes.normalized[c, $0]) }
    }

    static let headNames = ["zeroshot", "kalman", "kalman-diagonal", "tip", "tipx", "clipood", "kalman+tip", "zeroshot+tipx"]

    /// A head built with C classes and grown by one right away predicts exactly as a head built with
    /// the C + 1 classes (every head: the growth initialises a class as the constructor does).
    @Test(arguments: headNames)
    func growingAFreshHeadEqualsBuildingIt(name: String) throws {
        var random = TestRandom(seed: 11)
        let all = try random.classes(5, 24)
        let base = try Self.prefix(all, 4)
        let settings = HeadSettings()
        let grown = try settings.makeHead(name, classes: base)
        (grown as! any ClassGrowingHead).appendClass(from: all)
        let built = try settings.makeHead(name, classes: all)
        #expect(grown.classCount == 5)
        for _ in 0..<20 {
            let x = random.unitVector(24)
            let label = Int(random.generator.next() % 5)
            let a = grown.logits(x)
            let b = built.logits(x)
            #expect(maxRelativeError(a, b) < 1e-12, "\(name): \(a) against \(b)")
            grown.learn(label: label, context: LearnContext())
            built.learn(label: label, context: LearnContext())
        }
    }

    /// Closed form right after the addition: the new Kalman row is w_bar + (s / p0) P (t^ - t_bar) (for a
    /// fresh head s t^), its logit outputScale times that row's product with x; the other rows and P are
    /// untouched.
    @Test func kalmanRowIsTheShrunkZeroShotContrast() throws {
        var random = TestRandom(seed: 3)
        let all = try random.classes(4, 16)
        var config = KalmanConfiguration()
        config.initialScale = 0.7
        let fresh = KalmanHead(classes: try Self.prefix(all, 3), configuration: config)
        fresh.appendClass(from: all)
        for j in 0..<16 { #expect(abs(fresh.weights[3, j] - 0.7 * all.normalized[3, j]) < 1e-15) }

        let head = KalmanHead(classes: try Self.prefix(all, 3), configuration: config)
        for _ in 0..<50 { head.step(random.unitVector(16), label: Int(random.generator.next() % 3)) }
        let weightsBefore = head.weights.array
        let covariance = (0..<256).map { head.covarianceEntry($0 / 16, $0 % 16) }
        head.appendClass(from: all)
        #expect(head.classCount == 4)
        #expect(Array(head.weights.array[0..<48]) == weightsBefore)
        #expect((0..<256).map { head.covarianceEntry($0 / 16, $0 % 16) } == covariance)
        var expected = [Double](repeating: 0, count: 16)
        for i in 0..<16 {
            expected[i] = (0..<3).map { weightsBefore[$0 * 16 + i] }.reduce(0, +) / 3
            for j in 0..<16 {
                let tBar = (0..<3).map { all.normalized[$0, j] }.reduce(0, +) / 3
                expected[i] += 0.7 / config.priorVariance * covariance[i * 16 + j] * (all.normalized[3, j] - tBar)
            }
        }
        #expect(maxRelativeError(Array(head.weights.array[48..<64]), expected) < 1e-12)
        let x = random.unitVector(16)
        let logit = zip(expected, x).map(*).reduce(0, +) * 100
        #expect(abs(head.logits(x)[3] - logit) < 1e-10)
        head.learn(label: 3, context: LearnContext())  // the new class learns
        #expect(head.updateCount == 51)
    }

    /// The diagonal Kalman head's new row of variances starts at the prior.
    @Test func diagonalKalmanRowStartsAtThePrior() throws {
        var random = TestRandom(seed: 4)
        let all = try random.classes(3, 8)
        let head = KalmanHead(classes: try Self.prefix(all, 2), configuration: .diagonalDefaults, name: "kalman-diagonal")
        for _ in 0..<30 { head.step(random.unitVector(8), label: Int(random.generator.next() % 2)) }
        let trace = head.covarianceTrace
        head.appendClass(from: all)
        for j in 0..<8 { #expect(abs(head.covarianceEntry(2, j) - 3e-4) < 1e-15) }
        #expect(abs(head.covarianceTrace - (trace + 8 * 3e-4)) < 1e-12)
    }

    /// Tip: the new class has an empty cache (its cache term is 0) and fills from its labels; Tip-X's
    /// key signatures are those of a head built with the C + 1 classes that cached the same keys.
    @Test func tipCacheOfTheNewClassStartsEmpty() throws {
        var random = TestRandom(seed: 5)
        let all = try random.classes(4, 12)
        let settings = HeadSettings()
        let grown = try settings.makeHead("tipx", classes: try Self.prefix(all, 3)) as! TipAdapterHead
        let built = try settings.makeHead("tipx", classes: all) as! TipAdapterHead
        for _ in 0..<40 {
            let x = random.unitVector(12)
            let label = Int(random.generator.next() % 3)
            grown.step(x, label: label)
            built.step(x, label: label)
        }
        grown.appendClass(from: all)
        #expect(grown.cachedKeys(of: 3) == 0)
        for _ in 0..<10 {
            let x = random.unitVector(12)
            #expect(maxRelativeError(grown.logits(x), built.logits(x)) < 1e-12)
            grown.learn(label: 3, context: LearnContext())
            built.learn(label: 3, context: LearnContext())
        }
        #expect(grown.cachedKeys(of: 3) == 10)
    }

    /// The scorer's new mean is the embedding: its whitened form is consistent with the factor, so an
    /// input at the embedding scores (almost) 0.
    @Test(arguments: [0, 6])
    func scorerMeanStartsAtTheEmbedding(projection: Int) throws {
        var random = TestRandom(seed: 6)
        let all = try random.classes(4, 16)
        var config = MahalanobisConfiguration()
        config.projection = projection
        let scorer = MahalanobisScorer(classes: try Self.prefix(all, 3), configuration: config)
        for _ in 0..<300 {
            var x = random.unitVector(16)
            let label = Int(random.generator.next() % 3)
            for j in 0..<16 { x[j] = all.normalized[label, j] + 0.2 * x[j] }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            _ = scorer.score(x.map { $0 / norm })
            scorer.learn(label: label)
        }
        let t = (0..<16).map { all.normalized[3, $0] }
        let before = scorer.score(t)
        scorer.learn(label: before.nearest)
        scorer.appendClass(all.normalized.row(3))
        #expect(scorer.classCount == 4)
        #expect(scorer.means.array.suffix(scorer.dimension) == scorer.projected(t)[...])
        let after = scorer.score(t)
        #expect(after.nearest == 3)
        #expect(after.distance2 < 1e-3 * before.distance2, "\(after.distance2) against \(before.distance2)")
        scorer.learn(label: 3)
    }

    /// StreamModel: the new class gets the next index and is predicted; a retired class is never
    /// predicted (probability exactly 0) and its labels are refused; errors leave the model unchanged.
    @Test func addAndRetireThroughTheModel() throws {
        let stream = try BlockedProcessingTests.random(seed: 21, count: 600)
        let base = try Self.prefix(stream.classes, 5)
        let model = StreamModel(classes: base, head: KalmanHead(classes: base))
        let d = stream.dimension
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        let embedding5 = Self.row(stream.classes, 5)

        #expect(throws: ClassChangeError.invalidName("")) { try model.addClass(name: "", embedding: embedding5) }
        #expect(throws: ClassChangeError.duplicateName("class0")) { try model.addClass(name: "class0", embedding: embedding5) }
        #expect(throws: ClassChangeError.invalidEmbedding(.wrongDimension(expected: d, actual: 3))) {
            try model.addClass(name: "x", embedding: [1, 2, 3])
        }
        #expect(throws: ClassChangeError.invalidEmbedding(.zeroVector)) {
            try model.addClass(name: "x", embedding: [Float](repeating: 0, count: d))
        }
        #expect(ClassChangeError.invalidEmbedding(.nonFinite(index: 0)).code.rawValue == "non-finite")
        #expect(model.classCount == 5)

        var predicted5 = 0
        for i in 0..<300 {
            let label = stream.labels[i]
            if i == 150 {
                #expect(try model.addClass(name: "class5", embedding: embedding5) == ClassChange(index: 5, applied: true))
                #expect(try model.addClass(name: "class5", embedding: embedding5) == ClassChange(index: 5, applied: false))
                #expect(model.classCount == 5 + 1 && model.classes.names.last == "class5")
            }
            if i < 150 && label == 5 { continue }
            let result = try model.process(event(i), label: label)
            if result.index == 5 { predicted5 += 1 }
            #expect(abs(model.probabilities.array.reduce(0, +) - 1) < 1e-12)
        }
        #expect(predicted5 > 0)

        #expect(try model.retireClass(name: "class2") == ClassChange(index: 2, applied: true))
        #expect(try model.retireClass(name: "class2") == ClassChange(index: 2, applied: false))
        #expect(model.activeClassCount == 5)
        #expect(throws: ClassChangeError.unknownClass("nope")) { try model.retireClass(name: "nope") }
        #expect(throws: ClassChangeError.duplicateName("class2")) {
            try model.addClass(name: "class2", embedding: Self.row(stream.classes, 2))
        }
        let eventsBefore = model.eventCount
        #expect(throws: EmbeddingError.retiredClass(label: 2)) { try model.process(event(0), label: 2) }
        #expect(model.eventCount == eventsBefore)
        for i in 300..<600 {
            let label = stream.labels[i] == 2 ? nil : stream.labels[i]
            let result = try model.process(event(i), label: label)
            #expect(result.index != 2)
            #expect(model.probabilities[2] == 0)
            #expect(result.entropy.isFinite && model.probabilityScale.isFinite)
        }
        for name in ["class0", "class1", "class3", "class4"] { try model.retireClass(name: name) }
        #expect(throws: ClassChangeError.lastActiveClass("class5")) { try model.retireClass(name: "class5") }
        #expect(try model.process(event(0), label: nil).index == 5)
    }

    /// The input-drift test leaves the class subspace out: an added class joins that subspace (its basis
    /// is the one built from the grown class set) and both means keep their values, with their
    /// coordinates recomputed in the new basis.
    @Test func meanShiftSubspaceFollowsAnAddedClass() throws {
        let stream = try BlockedProcessingTests.random(seed: 23, count: 200)
        let base = try Self.prefix(stream.classes, 4)
        let model = StreamModel(classes: base, head: KalmanHead(classes: base))
        let d = stream.dimension
        for i in 0..<200 {
            guard let label = stream.labels[i], label < 4 else { continue }
            _ = try model.process(Array(stream.embeddings[(i * d)..<((i + 1) * d)]), label: label)
        }
        let detector = try #require(model.inputDetector)
        let fastBefore = detector.fast.array
        let statisticBefore = detector.statistic
        #expect(detector.basis.rows == min(4, max(1, d / 4)))
        try model.addClass(name: "class4", embedding: Self.row(stream.classes, 4))
        let expected = MeanShiftDetector.classSubspace(model.classes.normalized)
        #expect(detector.basis.rows == min(5, max(1, d / 4)) && detector.basis.rows > 4)
        #expect(detector.basis.array == expected.array)
        #expect(detector.fast.array == fastBefore && detector.statistic == statisticBefore)
        for (means, coordinates) in [(detector.fast, detector.fastCoordinates), (detector.slow, detector.slowCoordinates)] {
            for j in 0..<expected.rows {
                let projected = (0..<d).reduce(0.0) { $0 + expected[j, $1] * means[$1] }
                #expect(abs(coordinates[j] - projected) < 1e-12)
            }
        }
        // The new class's direction is no longer tested: its embedding has no component outside S.
        let t = model.classes.normalized.row(4)
        let inside = (0..<expected.rows).reduce(0.0) { sum, j in
            let q = (0..<d).reduce(0.0) { $0 + expected[j, $1] * t[$1] }
            return sum + q * q
        }
        #expect(abs(inside - 1) < 1e-9)
    }

    /// A model with added and retired classes saves its class set; a model built with the base classes
    /// adopts it and restores the rest; both then continue identically.
    @Test func checkpointRoundTripWithAddedAndRetiredClasses() throws {
        let stream = try BlockedProcessingTests.random(seed: 22, count: 900)
        let base = try Self.prefix(stream.classes, 4)
        let settings = HeadSettings()
        func make() throws -> StreamModel {
            var drift = DriftSettings()
            drift.mahalanobis.warmupEvents = 100
            drift.mahalanobis.referenceEvents = 100
            return StreamModel(classes: base, head: try settings.makeHead("kalman+tipx", classes: base), drift: drift)
        }
        let d = stream.dimension
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        let a = try make()
        // A model without class changes writes no class-set section (the bytes of earlier versions).
        var plain = CheckpointReader(a.checkpointPayload())
        #expect(try plain.readString() == "StreamModel")

        func label(_ i: Int, _ model: StreamModel) -> Int? {
            guard let l = stream.labels[i], l < model.classCount, !model.retired[l] else { return nil }
            return l
        }
        for i in 0..<300 { _ = try a.process(event(i), label: label(i, a)) }
        try a.addClass(name: "class4", embedding: Self.row(stream.classes, 4))
        for i in 300..<500 { _ = try a.process(event(i), label: label(i, a)) }
        try a.addClass(name: "class5", embedding: Self.row(stream.classes, 5))
        try a.retireClass(name: "class1")
        for i in 500..<600 { _ = try a.process(event(i), label: label(i, a)) }
        let payload = a.checkpointPayload()

        let b = try make()
        try b.restore(payload: payload)
        #expect(b.classes.names == a.classes.names)
        #expect(b.retired == a.retired)
        #expect(b.checkpointPayload() == payload)
        for i in 600..<900 {
            let ra = try a.process(event(i), label: label(i, a))
            let rb = try b.process(event(i), label: label(i, b))
            #expect(ra == rb)
        }
        #expect(b.checkpointPayload() == a.checkpointPayload())

        // A model that added another class than the checkpoint's is refused, unchanged.
        let c = try make()
        try c.addClass(name: "other", embedding: Self.row(stream.classes, 5))
        #expect(throws: CheckpointError.self) { try c.restore(payload: payload) }
        #expect(c.classes.names == base.names + ["other"])
        // A checkpoint without the class changes does not restore into a model that has them.
        let fresh = try make().checkpointPayload()
        #expect(throws: CheckpointError.self) { try a.restore(payload: fresh) }
    }

    /// A retired class leaves the Tip cache's statistics: with class 1 of four retired, the cache head
    /// (its keys of class 1 still held) predicts the other classes exactly as a head that never had
    /// class 1 and saw the same labelled events of the others (the affinities' max, mean and sd, the
    /// spread of the base logits are over the active classes only).
    /// With Tip-X (gamma 1) the class signatures are over the active classes too.
    @Test(arguments: [0.0, 1.0])
    func aRetiredClassLeavesTheTipCacheStatistics(tipXWeight: Double) throws {
        let stream = try BlockedProcessingTests.random(seed: 25, count: 400)
        let d = stream.dimension
        let four = try Self.prefix(stream.classes, 4)
        let kept = [0, 2, 3]
        let three = Self.subset(four, kept)
        var configuration = TipAdapterConfiguration()
        configuration.selectsWeight = false
        configuration.tipXWeight = tipXWeight
        let a = StreamModel(classes: four, head: TipAdapterHead(classes: four, configuration: configuration))
        let b = StreamModel(classes: three, head: TipAdapterHead(classes: three, configuration: configuration))
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        var perClass = [0, 0, 0, 0]
        var next = 0
        // Fewer labels per class than the 16 shots: the caches hold every labelled event, no sampling.
        while next < stream.count && perClass.min()! < 10 {
            defer { next += 1 }
            guard let l = stream.labels[next], l < 4, perClass[l] < 10 else { continue }
            perClass[l] += 1
            _ = try a.process(event(next), label: l)
            if let m = kept.firstIndex(of: l) { _ = try b.process(event(next), label: m) }
        }
        #expect(perClass == [10, 10, 10, 10])
        try a.retireClass(name: four.names[1])
        var largest = 0.0
        #expect(next + 100 <= stream.count)
        for i in next..<min(stream.count, next + 100) {
            _ = try a.process(event(i), label: nil)
            _ = try b.process(event(i), label: nil)
            #expect(a.probabilities[1, 0] == 0)
            // The head's logits (the probabilities also carry each model's calibration, learned from
            // different labelled events).
            for (m, c) in kept.enumerated() {
                let difference = abs(a.logits[c, 0] - b.logits[m, 0]) / max(1, abs(b.logits[m, 0]))
                if !(difference <= largest) { largest = difference }  // NaN sticks
            }
        }
        #expect(largest < 1e-12, "largest relative difference \(largest)")
    }

    /// A retired class leaves the Kalman head's observation: with class 1 of four retired before the
    /// stream, the head's active rows learn exactly as a head that never had class 1 (gaussian: the
    /// centred target's level and the noise over the active classes; softmax: the softmax over them;
    /// full and diagonal covariance), and the retired row does not move.
    @Test(arguments: [("gaussian", "full"), ("softmax", "full"), ("gaussian", "diagonal")])
    func aRetiredClassLeavesTheKalmanObservation(_ observation: String, _ covariance: String) throws {
        var settings = HeadSettings()
        try settings.setKalman(
            observation: KalmanConfiguration.Observation(rawValue: observation)!,
            kalmanCovariance: KalmanConfiguration.Covariance(rawValue: covariance)!)
        let (a, b) = try Self.retiredAgainstAbsent { try settings.makeHead("kalman", classes: $0) }
        let noise = (b as! KalmanHead).noise
        #expect(abs((a as! KalmanHead).noise - noise) <= 1e-9 * noise, "noise \((a as! KalmanHead).noise) against \(noise)")
    }

    /// The same for CLIPood: the training softmax is over the active classes.
    @Test func aRetiredClassLeavesTheClipoodSoftmax() throws {
        _ = try Self.retiredAgainstAbsent { ClipoodHead(classes: $0) }
    }

    /// Runs a head built with four classes, class 1 retired before the stream, against one built with
    /// the other three on the same labelled events (none of class 1): expects the logits of the active
    /// classes within 1e-9 relative at every event and the retired row's weights unchanged. Returns both
    /// heads.
    static func retiredAgainstAbsent(_ make: (ClassEmbeddings) throws -> any AdapterHead) throws -> (any AdapterHead, any AdapterHead) {
        let stream = try BlockedProcessingTests.random(seed: 27, count: 300)
        let d = stream.dimension
        let four = try Self.prefix(stream.classes, 4)
        let kept = [0, 2, 3]
        var drift = DriftSettings()
        drift.inputScoring = false  // the Kalman regulation's d2 would see the retired class's mean
        let a = StreamModel(classes: four, head: try make(four), drift: drift)
        let b = StreamModel(classes: Self.subset(four, kept), head: try make(Self.subset(four, kept)), drift: drift)
        try a.retireClass(name: four.names[1])
        func retiredRow() -> [Double] {
            if let k = a.head as? KalmanHead { return Array(UnsafeBufferPointer(start: k.weights.row(1), count: d)) }
            if let c = a.head as? ClipoodHead { return Array(UnsafeBufferPointer(start: c.weights.row(1), count: d)) }
            return []
        }
        let before = retiredRow()
        var largest = 0.0
        var events = 0
        for i in 0..<stream.count {
            let x = Array(stream.embeddings[(i * d)..<((i + 1) * d)])
            let label = stream.labels[i].flatMap { $0 < 4 ? $0 : nil }
            guard label != 1 else { continue }
            _ = try a.process(x, label: label)
            _ = try b.process(x, label: label.map { kept.firstIndex(of: $0)! })
            events += 1
            // The logits themselves (the same rows start equal and see the same inputs), not only
            // their differences: the centred target's level moves every active row alike.
            for (m, c) in kept.enumerated() {
                let difference = abs(a.logits[c, 0] - b.logits[m, 0]) / max(1, abs(b.logits[m, 0]))
                if !(difference <= largest) { largest = difference }  // NaN sticks
            }
        }
        #expect(events > 150)
        #expect(largest < 1e-9, "largest relative difference \(largest)")
        #expect(!before.isEmpty && retiredRow() == before)
        return (a.head, b.head)
    }

    /// Additions stop at maximumClassCount (active and retired classes count); a refused one changes
    /// nothing, a replayed one (already in effect) is still a no-op at the limit.
    @Test func additionsStopAtTheClassLimit() throws {
        let stream = try BlockedProcessingTests.random(seed: 26, count: 10)
        let base = try Self.prefix(stream.classes, 3)
        let model = StreamModel(classes: base, head: KalmanHead(classes: base))
        model.maximumClassCount = 4
        try model.retireClass(name: base.names[0])
        #expect(try model.addClass(name: "class3", embedding: Self.row(stream.classes, 3)).applied)
        #expect(throws: ClassChangeError.tooManyClasses(limit: 4)) {
            try model.addClass(name: "class4", embedding: Self.row(stream.classes, 4))
        }
        #expect(ClassChangeError.tooManyClasses(limit: 4).code.rawValue == "too-many-classes")
        #expect(model.classes.names == base.names + ["class3"])
        #expect(try model.addClass(name: "class3", embedding: Self.row(stream.classes, 3)).applied == false)
    }

    /// A crafted or damaged class-set section is refused with a CheckpointError (never a crash) and
    /// leaves the model as it was: impossible counts, duplicate or overlong names, an embedding that is
    /// not a unit vector, every class retired.
    @Test func craftedClassSetsAreRefused() throws {
        let stream = try BlockedProcessingTests.random(seed: 24, count: 10)
        let base = try Self.prefix(stream.classes, 3)
        let d = stream.dimension
        let model = StreamModel(classes: base, head: KalmanHead(classes: base))
        let tail = model.checkpointPayload()  // starts at the "StreamModel" section
        var unit = [Double](repeating: 0, count: d)
        unit[0] = 1
        func payload(base: Int, added: [(String, [Double])], retired: [Bool]? = nil, count: Int? = nil) -> [UInt8] {
            var w = CheckpointWriter()
            w.writeString("StreamModel.classes")
            w.writeInt(base)
            w.writeInt(count ?? added.count)
            for (name, e) in added {
                w.writeString(name)
                w.writeDoubles(e)
            }
            w.writeBools(retired ?? Array(repeating: false, count: 3 + added.count))
            return w.bytes + tail
        }
        let cases: [(String, [UInt8])] = [
            ("overflowing base", payload(base: Int.max, added: [("x", unit)])),
            ("negative count", payload(base: 3, added: [], count: -1)),
            ("huge count", payload(base: 3, added: [("x", unit)], count: Int.max)),
            ("duplicate name", payload(base: 3, added: [("x", unit), ("x", unit)])),
            ("empty name", payload(base: 3, added: [("", unit)])),
            ("long name", payload(base: 3, added: [(String(repeating: "n", count: 257), unit)])),
            ("not unit", payload(base: 3, added: [("x", unit.map { $0 * 1e300 })])),
            ("non-finite", payload(base: 3, added: [("x", unit.map { $0 == 1 ? .infinity : 0 })])),
            ("all retired", payload(base: 3, added: [("x", unit)], retired: [true, true, true, true])),
        ]
        for (what, bytes) in cases {
            #expect(throws: CheckpointError.self, "\(what)") { try model.restore(payload: bytes) }
            #expect(model.classes.names == base.names, "\(what)")
        }
        // The same section, well formed, restores (the layout above is the real one).
        let good = payload(base: 3, added: [("x", unit)])
        let grown = StreamModel(classes: base, head: KalmanHead(classes: base))
        try grown.adoptClassSet(from: CheckpointReader(good))
        #expect(grown.classes.names == base.names + ["x"])
        // A model that retired a class the checkpoint has active is refused before anything changes.
        let used = StreamModel(classes: base, head: KalmanHead(classes: base))
        try used.retireClass(name: base.names[0])
        #expect(throws: CheckpointError.self) { try used.adoptClassSet(from: CheckpointReader(good)) }
        #expect(used.classes.names == base.names)
        #expect(used.retired == [true, false, false])
    }

    /// Blocked processing with a class added (and one retired) between batches gives the per-event
    /// predictions.
    @Test func blocksAgreeWithEventsAcrossAClassChange() throws {
        let stream = try BlockedProcessingTests.random(seed: 23, count: 1500)
        let base = try Self.prefix(stream.classes, 5)
        let d = stream.dimension
        func make(block: Int) -> StreamModel {
            var drift = DriftSettings()
            drift.mahalanobis.warmupEvents = 200
            drift.mahalanobis.referenceEvents = 200
            return StreamModel(classes: base, head: KalmanHead(classes: base), drift: drift, maximumBlock: block, minimumBlock: 2)
        }
        let change = 700
        let retire = 1100
        func labelOf(_ i: Int) -> Int? {
            guard let l = stream.labels[i] else { return nil }
            if i >= retire && l == 3 { return nil }
            return l
        }
        func keep(_ i: Int) -> Bool { i >= change || stream.labels[i] != 5 }
        let reference = make(block: 1)
        var referenceResults: [EventResult] = []
        var retiredFrom = 0
        var referenceProbabilities: [[Double]] = []
        for i in 0..<stream.count where keep(i) {
            if i == change { try reference.addClass(name: "class5", embedding: Self.row(stream.classes, 5)) }
            if i == retire {
                try reference.retireClass(name: "class3")
                retiredFrom = referenceResults.count
            }
            referenceResults.append(try reference.process(Array(stream.embeddings[(i * d)..<((i + 1) * d)]), label: labelOf(i)))
            referenceProbabilities.append(reference.probabilities.array)
        }
        let blocked = make(block: 64)
        var batch = blocked.makeBatch(capacity: 100)
        var results: [EventResult] = []
        var probabilities: [[Double]] = []
        func flush() {
            blocked.process(batch)
            for i in 0..<batch.count {
                results.append(batch.results[i])
                probabilities.append(Array(UnsafeBufferPointer(start: batch.probabilities.row(i), count: batch.classCount)))
            }
            batch.removeAll()
        }
        for i in 0..<stream.count where keep(i) {
            if i == change || i == retire {
                flush()  // a class change is applied between batches
                if i == change { try blocked.addClass(name: "class5", embedding: Self.row(stream.classes, 5)) }
                if i == retire { try blocked.retireClass(name: "class3") }
                batch = blocked.makeBatch(capacity: 100)
            }
            try batch.append(Array(stream.embeddings[(i * d)..<((i + 1) * d)]), label: labelOf(i))
            if batch.isFull { flush() }
        }
        flush()
        #expect(results.count == referenceResults.count)
        var differing = 0
        for (i, (a, b)) in zip(referenceResults, results).enumerated() {
            if a.index != b.index { differing += 1 }
            #expect(BlockedProcessingTests.relative(referenceProbabilities[i], probabilities[i], floor: 1e-12) < 1e-6)
        }
        #expect(differing == 0)
        #expect(results.contains { $0.index == 5 })
        #expect(results[..<retiredFrom].contains { $0.index == 3 })
        #expect(!results[retiredFrom...].contains { $0.index == 3 })
        let a = reference.head as! KalmanHead
        let b = blocked.head as! KalmanHead
        #expect(BlockedProcessingTests.relative(a.weights.array, b.weights.array, floor: 1e-3) < 1e-6)
    }
}
