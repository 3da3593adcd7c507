import Foundation
import StreamAdaptCore

/// `bench --class-growth`: what classes added at run time cost (docs/classes.md). For each D, head and
/// N, a model with 10 base classes gets N classes added one by one (random unit embeddings); reported:
/// the time of the last addition (one control record at 10 + N classes), the checkpoint size, and the
/// time to restore that checkpoint into a fresh model with the 10 base classes (which adopts the N
/// classes). Medians of `repetitions` runs; default drift settings (the input-drift test's class
/// subspace is what makes an addition O(C^3)).
struct ClassGrowthBench {
    var repetitions = 3
    var baseClasses = 10

    func run(dimensions: [Int], counts: [Int], heads: [String]) throws {
        writeLine("head        D      N      last add ms  restore ms  checkpoint MB")
        let settings = HeadSettings()
        for d in dimensions {
            var random = SplitMix64(seed: 42)
            func unit() -> [Float] {
                let v = (0..<d).map { _ in Double(random.next() % 2001) / 1000 - 1 }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return v.map { Float($0 / norm) }
            }
            let base = try ClassEmbeddings(
                names: (0..<baseClasses).map { "base\($0)" }, dimension: d, values: (0..<baseClasses).flatMap { _ in unit() })
            for n in counts {
                let added = (0..<n).map { _ in unit() }
                for head in heads {
                    var lastAdds: [Double] = []
                    var restores: [Double] = []
                    var payload: [UInt8] = []
                    for r in 0..<repetitions {
                        let model = StreamModel(classes: base, head: try settings.makeHead(head, classes: base))
                        for (i, embedding) in added.enumerated() {
                            let start = monotonicNanoseconds()
                            try model.addClass(name: "added\(i)", embedding: embedding)
                            if i == n - 1 { lastAdds.append(Double(monotonicNanoseconds() &- start) / 1e6) }
                        }
                        if r == 0 { payload = model.checkpointPayload() }
                        let fresh = StreamModel(classes: base, head: try settings.makeHead(head, classes: base))
                        let start = monotonicNanoseconds()
                        try fresh.restore(payload: payload)
                        restores.append(Double(monotonicNanoseconds() &- start) / 1e6)
                        precondition(fresh.classCount == baseClasses + n)
                    }
                    writeLine(
                        pad(head, 12) + pad("\(d)", 7) + pad("\(n)", 7) + pad(fmt(Quantile.median(lastAdds) ?? 0, 2), 13)
                            + pad(fmt(Quantile.median(restores) ?? 0, 1), 12) + fmt(Double(payload.count) / 1e6, 1))
                }
            }
        }
        writeLine("(medians of \(repetitions) runs; \(baseClasses) base classes, N added one by one; default drift settings)")
    }
}
