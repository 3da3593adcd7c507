import Foundation
import Testing

@testable import StreamAdaptCore

/// The Kalman head with `precision: float32` (P stored in Float32, everything else Float64).
@Suite struct KalmanFloat32Tests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// RLS (fixed noise, no regulation) still equals ridge regression in closed form, to Float32
    /// rounding of P: per event and in blocks.
    @Test(arguments: [1, 7, 64])
    func float32RLSEqualsBatchRidge(block: Int) throws {
        let (error, updates) = try BlockedProcessingTests.rlsAgainstBatchRidge(
            forgetting: 0.99, precision: .float32, block: block, batchSize: 100)
        print("float32 RLS, block \(block): relative error \(error)")
        #expect(error < 1e-6, "relative error \(error)")  // measured 0.9e-7 to 1.5e-7
        #expect(updates == 600)
    }

    /// On the bundled sample the Float32 head predicts like the Float64 one (all but a few events) and
    /// its checkpoint round-trips exactly.
    @Test func float32FollowsFloat64OnTheSample() throws {
        let stream = try BlockedProcessingTests.sample()
        var config = KalmanConfiguration()
        config.precision = .float32
        let reference = try BlockedProcessingTests.run(stream, BlockedProcessingTests.model(stream, block: 64), batchSize: 600)
        let float32 = try BlockedProcessingTests.run(
            stream, BlockedProcessingTests.model(stream, block: 64, head: config), batchSize: 600)
        let differing = zip(reference.results, float32.results).filter { $0.0.index != $0.1.index }.count
        let a = reference.model.head as! KalmanHead
        let b = float32.model.head as! KalmanHead
        let weights = BlockedProcessingTests.relative(a.weights.array, b.weights.array, floor: 1e-3)
        print("float32 against float64 on the sample: \(differing) of 1200 predictions differ, weights \(weights)")
        #expect(differing <= 3)
        #expect(weights < 3e-3)  // measured 9e-4
        #expect(reference.model.alerts == float32.model.alerts)
        let payload = float32.model.checkpointPayload()
        let restored = BlockedProcessingTests.model(stream, block: 64, head: config)
        try restored.restore(payload: payload)
        #expect(restored.checkpointPayload() == payload)
        // A float64 model refuses it, naming the field.
        let other = BlockedProcessingTests.model(stream, block: 64)
        #expect(throws: CheckpointError.self) { try other.restore(payload: payload) }
    }
}
