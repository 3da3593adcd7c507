/// A head that can process a block of events with level-3 BLAS while keeping per-sample semantics:
/// the prediction of event i of a block uses the state after event i - 1, exactly as
/// ``AdapterHead/predict(_:logits:)`` and ``AdapterHead/learn(label:context:)`` event by event would
/// (up to rounding). ``StreamModel`` drives it:
///
///     beginBlock(rows, count)                         once per block
///     predict(blockRow: i, logits:) [learn(label:context:)]   for i = 0, 1, ..., count - 1 in order
///     endBlock()                                      once, before any other call
///
/// Between `beginBlock` and `endBlock` the head's stored state is not the current state (part of it
/// is held in the block): nothing may save, restore or call the per-event methods in between.
public protocol BlockedHead: AdapterHead {
    /// Whether this head's configuration has a blocked update (else the model goes event by event).
    var supportsBlocks: Bool { get }
    /// Allocates the in-block buffers for blocks of up to `capacity` events (once, before the first block).
    func prepareBlocks(capacity: Int)
    /// Starts a block: `rows` holds `count` L2-normalised inputs, row-major (count x D); they must stay
    /// unchanged until ``endBlock()``.
    func beginBlock(_ rows: UnsafePointer<Double>, count: Int)
    /// ``AdapterHead/predict(_:logits:)`` of row `blockRow` of the block.
    func predict(blockRow: Int, logits: UnsafeMutablePointer<Double>) -> Double
    /// Folds the block into the stored state.
    func endBlock()
}
