import Foundation

/// The affinity kernel of the cache and our online correction for intra-modal overlap.
///
/// Why: image-image cosines of CLIP-like features all sit in a narrow band (TA++/TX++, Kravets &
/// Namboodiri, BMVC 2024: the cosines of same-class and different-class image pairs overlap). In the
/// shared data every affinity a_j = y F_j' is about 0.9 with a spread of a few hundredths across the
/// keys, so the papers' exp(-beta (1 - a)) with beta = 1 gives every key nearly the same weight, and
/// alpha = 1.17 is tiny next to the 100 cos zero-shot term. TA++/TX++ learn a map offline that spreads
/// the cosines (`--projection` applies one); a stream has no offline step, so the `standardized`
/// correction sets both scales per event from what the event itself shows:
///
///     z_j  = (a_j - max a) / sd(a)      sd over the cached keys (population); z = 0 when sd = 0
///     A_j  = exp(b z_j)                  the nearest key weighs 1; one standard deviation less, exp(-b)
///     w    = r sd_c(z0)                  the cache term in units of the spread of the base logits z0
///
/// This is Tip-Adapter's kernel exp(-beta (1 - a_j)) with beta = b / sd(a), times exp(beta (1 - max a)),
/// a factor common to all classes that fixes the nearest key's weight at 1, and alpha = r sd_c(z0): the
/// sharpness follows the spread of the affinities whatever the feature space, and the cache term
/// stays commensurate with the logits it corrects, whether these are 100 cos (zero-shot) or the Kalman
/// head's. Tip-X's KL affinities are rescaled to the range [min A, 1] of the corrected affinities and
/// weighted gamma sd_c(z0). Cost per event: one pass over the C K affinities for max, mean and sd, one
/// exp per key (as before), and O(C) for sd_c(z0); no state beyond the cache itself. Retired classes
/// (`docs/classes.md`) are left out of these statistics across keys or classes, and of Tip-X's class
/// signatures.
extension TipAdapterHead {
    /// The weights of the cache term and of the Tip-X term, and the range [low, high] that the Tip-X
    /// affinities are rescaled to.
    struct CacheWeights {
        var cache: Double
        var signature: Double
        var low: Double
        var high: Double
    }

    /// Turns the affinities a (in ``affinity``, filled slots only) into the kernel values A in place and
    /// returns the weights, for the base logits `z0` (``classCount`` entries).
    func kernelize(base z0: UnsafePointer<Double>) -> CacheWeights {
        let k = configuration.shotsPerClass
        var count = 0
        var lowest = Double.infinity
        var highest = -Double.infinity
        var sum = 0.0
        for c in 0..<classCount where !retired[c] {
            for i in 0..<filled[c] {
                let a = affinity[c * k + i]
                lowest = min(lowest, a)
                highest = max(highest, a)
                sum += a
                count += 1
            }
        }
        switch configuration.affinityCorrection {
        case .none:
            let beta = configuration.beta
            for c in 0..<classCount where !retired[c] {
                for i in 0..<filled[c] { affinity[c * k + i] = Foundation.exp(-beta * (1 - affinity[c * k + i])) }
            }
            return CacheWeights(cache: configuration.alpha, signature: configuration.tipXWeight, low: lowest, high: highest)
        case .standardized:
            let mean = sum / Double(count)
            var squares = 0.0
            for c in 0..<classCount where !retired[c] {
                for i in 0..<filled[c] {
                    let v = affinity[c * k + i] - mean
                    squares += v * v
                }
            }
            let sd = (squares / Double(count)).squareRoot()
            let sharpness = sd > 0 ? configuration.spreadSharpness / sd : 0
            var smallest = 1.0
            for c in 0..<classCount where !retired[c] {
                for i in 0..<filled[c] {
                    let value = Foundation.exp(sharpness * (affinity[c * k + i] - highest))
                    affinity[c * k + i] = value
                    smallest = min(smallest, value)
                }
            }
            let scale = Self.spread(z0, count: classCount, skipping: retired)
            return CacheWeights(
                cache: configuration.relativeAlpha * scale, signature: configuration.tipXWeight * scale, low: smallest,
                high: 1)
        }
    }

    /// The population standard deviation of `values[0..<count]`, leaving out the entries where
    /// `skipping` is true (retired classes); 0 when none is left.
    static func spread(_ values: UnsafePointer<Double>, count: Int, skipping: [Bool]) -> Double {
        var mean = 0.0
        var n = 0
        for i in 0..<count where !skipping[i] {
            mean += values[i]
            n += 1
        }
        guard n > 0 else { return 0 }
        mean /= Double(n)
        var squares = 0.0
        for i in 0..<count where !skipping[i] {
            let v = values[i] - mean
            squares += v * v
        }
        return (squares / Double(n)).squareRoot()
    }
}

// MARK: - Weight selection

extension TipAdapterConfiguration {
    /// Whether the head chooses the cache term's weight among levels (see ``TipAdapterHead/weightLevels``).
    var selectsLevels: Bool { affinityCorrection == .standardized && selectsWeight }
}

/// The weight of the cache term, chosen by how well it has done.
///
/// A cache of K shots per class is a nearest-neighbour classifier: quick to follow a shift, but
/// noisier than a head that fits all the labels (on the shared data, the Kalman head). Added at a fixed
/// weight it can only trade one for the other, so each event uses one level m* of
///
///     m in {0, 1/16, 1/8, 1/4, 1/2, 1},   logits = z0 + m r (cache term)
///
/// where level 0 is the base logits alone (zero-shot, or the Kalman head in `kalman+tip`). After each
/// labelled event (label y) every level m > 0 is compared with level 0 as if it had been used, with
/// discounted counts (rho = 1 - 1 / memory):
///
///     win_m  <- rho win_m  + 1[argmax(z0 + m r term) == y and argmax(z0) != y]
///     loss_m <- rho loss_m + 1[argmax(z0 + m r term) != y and argmax(z0) == y]
///
/// and m* is the level with the largest win_m - loss_m among those where it exceeds
/// z sqrt(win_m + loss_m) (a sign test on the events where the two disagree), else 0. So the cache
/// counts only while it has been correcting the base significantly more often than spoiling it; where
/// it does not help (beside a Kalman head that fits all the labels) the sum stays the base head.
/// Cost O(6 C) per labelled event; state: the twelve counts (checkpointed).
extension TipAdapterHead {
    /// The levels m of the cache weight (times r).
    public static let weightLevels: [Double] = [0, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 1]

    /// The index of the level used now (see above).
    var selectedLevel: Int {
        var best = 0
        var bestScore = 0.0
        let z = configuration.selectionConfidence
        for m in 1..<levelWins.count {
            let score = levelWins[m] - levelLosses[m]
            if score > z * (levelWins[m] + levelLosses[m]).squareRoot() && score > bestScore {
                best = m
                bestScore = score
            }
        }
        return best
    }

    /// The current cache weight level m* (1 when the head does not select).
    public var selectedWeightLevel: Double { configuration.selectsLevels ? Self.weightLevels[selectedLevel] : 1 }

    /// Scores every level against level 0 on the last prediction's `base` and `term` for `label`.
    func scoreLevels(label: Int) {
        let rho = 1 - 1 / configuration.selectionMemory
        var baseRight = false
        for m in 0..<levelWins.count {
            let level = Self.weightLevels[m]
            var best = 0
            var bestValue = -Double.infinity
            for c in 0..<classCount where !retired[c] {
                let v = base[c] + level * term[c]
                if v > bestValue {
                    bestValue = v
                    best = c
                }
            }
            let right = best == label
            if m == 0 {
                baseRight = right
                continue
            }
            levelWins[m] = rho * levelWins[m] + (right && !baseRight ? 1 : 0)
            levelLosses[m] = rho * levelLosses[m] + (!right && baseRight ? 1 : 0)
        }
    }
}
