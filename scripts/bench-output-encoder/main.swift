// Encodes N predictions and prints the ns per prediction (scripts/bench-output-encoder/run).
import Foundation
let names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
var g = SystemRandomNumberGenerator()
let matrices = (0..<64).map { _ in Matrix((0..<10).map { _ in Double.random(in: 0..<1, using: &g) }) }
let results = (0..<64).map { _ in EventResult(index: Int.random(in: 0..<10, using: &g), probability: .random(in: 0..<1, using: &g), entropy: .random(in: 0..<2, using: &g), variance: .random(in: 0..<0.01, using: &g), mahalanobis2: .random(in: 0..<2000, using: &g), drifting: false, updated: true) }
#if NEW
var encoder = try! OutputEncoder(topClasses: 3, classNames: names, head: "kalman")
#else
var encoder = OutputEncoder(topClasses: 3)
#endif
let n = Int(CommandLine.arguments[1])!
var total = 0
let start = DispatchTime.now().uptimeNanoseconds
for i in 0..<n {
    #if NEW
    try! encoder.prediction(id: "img-000123", timestamp: 1_700_000_000_000 + Int64(i), result: results[i & 63], probabilities: matrices[i & 63], classNames: names, modelVersion: i, head: "kalman", source: .init(partition: 0, offset: Int64(i)))
    #else
    encoder.prediction(id: "img-000123", timestamp: 1_700_000_000_000 + Int64(i), result: results[i & 63], probabilities: matrices[i & 63], classNames: names, modelVersion: i, head: "kalman", source: .init(partition: 0, offset: Int64(i)))
    #endif
    total &+= encoder.bytes.count
}
let ns = DispatchTime.now().uptimeNanoseconds - start
print("ns/prediction", Double(ns) / Double(n), "bytes", total / n)
