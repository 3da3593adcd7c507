/// Sample quantiles by one rule, used everywhere StreamAdapt reports or calibrates one (`eval`'s update
/// times, `bench`'s medians and p99s, the Kafka benchmark's handle times, the drift scorer's threshold):
/// linear interpolation between the closest ranks, type 7 of Hyndman and Fan ("Sample Quantiles in
/// Statistical Packages", The American Statistician 50(4), 1996), the default of R and NumPy. For the
/// n values sorted ascending x_0 <= ... <= x_(n-1) and 0 <= q <= 1:
///
///     h = q (n - 1),   i = floor(h),   t = h - i,   Q(q) = x_i (1 - t) + x_min(i + 1, n - 1) t
///
/// Q(0) is the minimum, Q(1) the maximum, Q(0.5) the median (the mean of the two middle values when n
/// is even). Q is continuous and non-decreasing in q, and Q(q) is one of the values when h is whole.
public enum Quantile {
    /// Q(q) of `sorted`, which must be sorted ascending; nil when it is empty.
    public static func ofSorted(_ sorted: [Double], _ q: Double) -> Double? {
        precondition(q >= 0 && q <= 1, "quantile \(q) outside [0, 1]")
        guard !sorted.isEmpty else { return nil }
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down))
        let high = min(sorted.count - 1, low + 1)
        let t = position - Double(low)
        return sorted[low] * (1 - t) + sorted[high] * t
    }

    /// Q(q) of `values` in any order (sorts a copy); nil when empty.
    public static func of(_ values: [Double], _ q: Double) -> Double? {
        ofSorted(values.sorted(), q)
    }

    /// Q(q) of integer measurements (nanoseconds, ...) in any order; nil when empty.
    public static func of<T: BinaryInteger>(_ values: [T], _ q: Double) -> Double? {
        ofSorted(values.sorted().map { Double($0) }, q)
    }

    /// The median, Q(0.5); nil when empty.
    public static func median(_ values: [Double]) -> Double? { of(values, 0.5) }

    /// The median, Q(0.5), of integer measurements; nil when empty.
    public static func median<T: BinaryInteger>(_ values: [T]) -> Double? { of(values, 0.5) }
}
