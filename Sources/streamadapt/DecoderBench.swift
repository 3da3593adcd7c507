import Foundation
import StreamAdaptCore
import StreamAdaptDaemon

/// `streamadapt bench --decoder`: the strict JSON scanner (``EventDecoder``) against Foundation's
/// `JSONSerialization` and `JSONDecoder` on realistic input events, side by side in one run.
///
/// Events look like the producers': an id `img-000123`, a class index, a millisecond timestamp and
/// D values of a unit-norm embedding (about N(0, 1/D)) printed with 9 significant digits
/// (`0.0132471938`). Each decoder must deliver the same thing: the id, the label and D float32 values
/// (JSONSerialization's `[Any]` is converted to `Float`; JSONDecoder decodes a struct with `[Float]`).
/// A repetition decodes every event once with each decoder in turn (interleaved, so that noise from
/// other users of the machine hits all three alike); the table gives medians over repetitions.
struct DecoderBench {
    let events: Int
    let repetitions: Int

    struct Event: Decodable {
        var id: String
        var embedding: [Float]
        var label: Int?
        var ts: Int64?
    }

    /// `count` events of dimension `d` as JSON bytes.
    static func makeEvents(_ count: Int, dimension d: Int, seed: UInt64) -> [[UInt8]] {
        var random = SplitMix64(seed: seed)
        func gaussian() -> Double {
            // Box-Muller from two uniforms in (0, 1].
            let u1 = Double(random.next() >> 11 + 1) / 9_007_199_254_740_992
            let u2 = Double(random.next() >> 11) / 9_007_199_254_740_992
            return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        }
        let scale = 1 / Double(d).squareRoot()
        return (0..<count).map { i in
            var text = "{\"id\":\"img-\(String(format: "%06d", i))\",\"embedding\":["
            for k in 0..<d {
                if k > 0 { text += "," }
                text += String(format: "%.9g", gaussian() * scale)
            }
            text += "],\"label\":\(i % 10),\"ts\":\(1_700_000_000_000 + i)}"
            return Array(text.utf8)
        }
    }

    func run(dimensions: [Int]) throws {
        writeLine("decoder             D     bytes/event  events/s   MB/s     us/event  x scanner   (medians of \(repetitions) repetitions of \(events) events)")
        for d in dimensions {
            let events = Self.makeEvents(self.events, dimension: d, seed: UInt64(d))
            let datas = events.map { Data($0) }
            let bytes = events.reduce(0) { $0 + $1.count }
            let decoder = EventDecoder(dimension: d, maximumBytes: 1 << 24)
            let jsonDecoder = JSONDecoder()
            var sink: Float = 0

            // The three must agree before they are timed.
            try check(events[0], datas[0], decoder, jsonDecoder)

            func scanner() throws {
                for event in events {
                    _ = try event.withUnsafeBytes { raw throws(InputError) in try decoder.decodeJSON(raw) }
                    sink += decoder.embedding[0]
                }
            }
            var buffer = [Float](repeating: 0, count: d)
            func serialization() throws {
                for data in datas {
                    let (_, _, values) = try Self.viaSerialization(data)
                    for k in 0..<d { buffer[k] = values[k] }
                    sink += buffer[0]
                }
            }
            func decodable() throws {
                for data in datas {
                    let event = try jsonDecoder.decode(Event.self, from: data)
                    sink += event.embedding[0]
                }
            }
            let runs: [(String, () throws -> Void)] = [("strict scanner", scanner), ("JSONSerialization", serialization), ("JSONDecoder", decodable)]
            var times = Array(repeating: [UInt64](), count: runs.count)
            for repetition in 0..<(repetitions + 1) {
                for (r, run) in runs.enumerated() {
                    let t0 = monotonicNanoseconds()
                    try run.1()
                    let t = monotonicNanoseconds() - t0
                    if repetition > 0 { times[r].append(t) }  // the first is a warm-up
                }
            }
            let medians = times.map { Quantile.median($0) ?? 0 }
            for (r, run) in runs.enumerated() {
                let seconds = medians[r] / 1e9
                writeLine(
                    pad(run.0, 20) + pad(String(d), 6) + pad(String(bytes / self.events), 13)
                        + pad(fmt(Double(self.events) / seconds, 0), 11) + pad(fmt(Double(bytes) / seconds / 1e6, 1), 9)
                        + pad(fmt(medians[r] / Double(self.events) / 1000, 1), 10) + fmt(medians[r] / medians[0], 2))
            }
            if sink.isNaN { writeLine("(unexpected NaN)") }
        }
    }

    /// id, label and the embedding's values through `JSONSerialization`.
    static func viaSerialization(_ data: Data) throws -> (String, Int?, [Float]) {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = object["id"] as? String, let values = object["embedding"] as? [Any]
        else { throw BenchError.shape }
        var floats = [Float]()
        floats.reserveCapacity(values.count)
        for value in values {
            guard let number = value as? NSNumber else { throw BenchError.shape }
            floats.append(Float(number.doubleValue))
        }
        return (id, (object["label"] as? NSNumber)?.intValue, floats)
    }

    enum BenchError: Error { case shape, disagree(String) }

    private func check(_ event: [UInt8], _ data: Data, _ decoder: EventDecoder, _ jsonDecoder: JSONDecoder) throws {
        let decoded = try event.withUnsafeBytes { raw throws(InputError) in try decoder.decodeJSON(raw) }
        let viaSerialization = try Self.viaSerialization(data)
        let viaDecoder = try jsonDecoder.decode(Event.self, from: data)
        guard decoded.id == viaSerialization.0, decoded.id == viaDecoder.id, decoded.label == .index(viaDecoder.label ?? -1),
            viaSerialization.1 == viaDecoder.label
        else { throw BenchError.disagree("id or label") }
        let mismatches = (0..<decoder.dimension).filter {
            decoder.embedding[$0] != viaSerialization.2[$0] || decoder.embedding[$0] != viaDecoder.embedding[$0]
        }
        if !mismatches.isEmpty {
            // Not fatal: Foundation may round differently; say how many values differ.
            writeLine("note: \(mismatches.count) of \(decoder.dimension) values differ from Foundation's in the first event")
        }
    }
}
