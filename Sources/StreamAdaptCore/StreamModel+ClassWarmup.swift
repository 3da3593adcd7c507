/// The warm-up of a class added at run time (``StreamModel/classWarmup``, docs/classes.md).
///
/// A class added at run time has, at first, few labels; on a domain the head has not learned yet (a
/// class added where the stream shifts) a tenth class draws some of the other classes' events while its
/// own row is still rough. With a warm-up of m labels, the model's output weights the class's probability
/// by the prior
///
///     pi_c = ((n_c + 1) / (m + 1))^2   while n_c < m,   1 after,
///
/// n_c the labels class c has learned since its addition (with the event, or delayed), and renormalises:
/// p'_c = p_c pi_c / sum_j p_j pi_j. The prediction is the argmax of p'. It is a decision prior only:
/// the head, the drift scorer, the temperature calibration and the labels learned are those of the model
/// without warm-up (the calibration sees the probabilities before the prior), so turning it on or off
/// never changes what the model learns, and classes the model was built with are never weighted.
/// The cost is the new class's recall in its first m labels (measured in docs/classes.md).
extension StreamModel {
    /// Weights the probabilities of added classes still in their warm-up and renormalises them; returns
    /// the argmax of the weighted probabilities (`index` when no class is in its warm-up).
    func applyClassWarmup(index: Int) -> Int {
        let m = Double(classWarmup)
        var weighted = false
        var indexWeighted = false
        for c in baseClassCount..<classCount where !retired[c] && addedClassLabels[c - baseClassCount] < classWarmup {
            let share = (Double(addedClassLabels[c - baseClassCount]) + 1) / (m + 1)
            probabilities[c] *= share * share
            weighted = true
            if c == index { indexWeighted = true }
        }
        guard weighted else { return index }
        var sum = 0.0
        for c in 0..<classCount { sum += probabilities[c] }
        for c in 0..<classCount { probabilities[c] /= sum }
        // Weighting only lowers classes in their warm-up: the head's argmax stays the argmax unless it is
        // one of them (ties then go to the lowest index, as in the head's argmax).
        guard indexWeighted else { return index }
        var best = 0
        for c in 1..<classCount where probabilities[c] > probabilities[best] { best = c }
        return best
    }

    /// Counts a learned label of an added class.
    func countAddedClassLabel(_ label: Int) {
        let k = label - baseClassCount
        if k >= 0 && addedClassLabels[k] < Self.completedWarmup { addedClassLabels[k] += 1 }
    }

    // MARK: Checkpoint

    /// The section after the class set that holds ``addedClassLabels``; written only when classes were
    /// added and the warm-up is on, so that with the warm-up off (the default) the checkpoint has the
    /// layout of earlier builds, which can then still read it. A checkpoint with added classes but without
    /// it (the warm-up off, or an earlier build) reads as warm-ups completed (``completedWarmup``): those
    /// classes were predicted without one.
    static let addedLabelsSection = "StreamModel.addedLabels"

    /// The label count of an added class whose warm-up is over for any setting (restored from a
    /// checkpoint without counts).
    public static let completedWarmup = Int.max

    func writeAddedClassLabels(to writer: inout CheckpointWriter) {
        guard classCount > baseClassCount && classWarmup > 0 else { return }
        writer.writeSection(Self.addedLabelsSection)
        writer.writeInts(addedClassLabels)
    }

    func readAddedClassLabels(from reader: inout CheckpointReader) throws(CheckpointError) -> [Int] {
        let added = classCount - baseClassCount
        var probe = reader
        guard added > 0, (try? probe.readString()) == Self.addedLabelsSection else {
            return Array(repeating: Self.completedWarmup, count: added)
        }
        reader = probe
        let counts = try reader.readInts(count: added, field: "classes.addedLabels")
        guard counts.allSatisfy({ $0 >= 0 }) else { throw .corrupt("classes.addedLabels", "a negative label count") }
        return counts
    }
}
