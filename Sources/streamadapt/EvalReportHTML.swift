import Foundation
import StreamAdaptCore

/// One head's per-event record for `eval --report`: the stream position of each predicted event, whether
/// it was right, and the drift monitor's score, flag and threshold (the threshold as it stood at the end
/// of the event's block).
struct HeadSeries {
    var events: [Int] = []
    var correct: [Bool] = []
    var scores: [Double?] = []
    var flagged: [Bool] = []
    var thresholds: [Double?] = []

    mutating func record(event: Int, correct right: Bool, result: EventResult, threshold: Double?) {
        events.append(event)
        correct.append(right)
        scores.append(result.mahalanobis2)
        flagged.append(result.drifting)
        thresholds.append(threshold)
    }
}

/// `eval --report FILE.html`: one self-contained HTML file (inline SVG and CSS, no script, no network)
/// with the accuracy over time of every head (rolling over ``window`` events, segments and the first
/// head's alerts marked), the first head's drift score against its threshold, a reliability diagram per
/// head and the table eval prints. Element ids and `data-` attributes are what the browser test reads.
struct EvalReportHTML {
    let report: EvalReport
    /// The stream position where each segment starts.
    let segmentStarts: [Int]
    let command: String
    var window = 200
    /// At most this many points per line (larger streams are drawn from bucket means / maxima).
    var maximumPoints = 1500

    static let colors = ["#2457c5", "#8a4fc2", "#1f9aa8", "#d98b1c", "#7a5230", "#6b7385", "#e05fa0"]

    func html() -> String {
        var body = ""
        body += "<h1>StreamAdapt eval report</h1>\n"
        body += "<p class=\"meta\">\(escape(command))<br>\(report.events) events, label fraction \(report.labelFraction), segments: "
        body += report.segments.enumerated().map { "<b>\($0.offset + 1)</b> \(escape($0.element))" }.joined(separator: " | ") + "</p>\n"
        body += table()
        body += "<h2>Prequential accuracy over the stream (rolling, last \(window) events)</h2>\n" + accuracyChart()
        body += "<h2>Input drift: Mahalanobis score of \(escape(report.heads.first?.name ?? "-"))'s drift monitor</h2>\n" + scoreChart()
        body += "<h2>Calibration: reliability diagrams</h2>\n<div class=\"row\">" + report.heads.enumerated().map { reliability($0.element, color: Self.colors[$0.offset % Self.colors.count]) }.joined() + "</div>\n"
        body += "<h2>Alerts (drift monitor of \(escape(report.heads.first?.name ?? "-")))</h2>\n" + alertsTable()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>StreamAdapt eval report</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; margin: 24px; max-width: 1100px; }
            h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 28px; }
            .meta { color: #6b7385; }
            table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
            th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #d9dde6; }
            th { color: #6b7385; font-weight: 500; }
            svg { display: block; max-width: 100%; height: auto; }
            svg text { font-size: 11px; fill: #6b7385; }
            .row { display: flex; flex-wrap: wrap; gap: 16px; }
            .legend span { margin-right: 14px; font-size: 12px; color: #6b7385; }
            .legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
            </style></head>
            <body>
            \(body)
            </body></html>

            """
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private func table() -> String {
        var s = "<table id=\"numbers\"><thead><tr><th>head</th><th>accuracy</th>"
        for i in report.segments.indices { s += "<th>segment \(i + 1)</th>" }
        s += "<th>ECE</th><th>events/s</th><th>update p50 us</th><th>update p99 us</th><th>updates</th><th>alerts raised</th></tr></thead><tbody>\n"
        for head in report.heads {
            let st = head.statistics
            s += "<tr data-head=\"\(escape(head.name))\"><td>\(escape(head.name))</td><td class=\"accuracy\">\(String(format: "%.4f", st.accuracy))</td>"
            for a in st.segmentAccuracies { s += "<td class=\"segment\">\(String(format: "%.4f", a))</td>" }
            s += "<td class=\"ece\">\(String(format: "%.4f", st.expectedCalibrationError))</td>"
            s += "<td>\(st.eventsPerSecond.map { String(format: "%.0f", $0) } ?? "-")</td>"
            s += "<td>\(st.updateMicroseconds(quantile: 0.5).map { String(format: "%.1f", $0) } ?? "-")</td>"
            s += "<td>\(st.updateMicroseconds(quantile: 0.99).map { String(format: "%.1f", $0) } ?? "-")</td>"
            s += "<td>\(head.updates)</td><td>\(head.alertsRaised)</td></tr>\n"
        }
        return s + "</tbody></table>\n"
    }

    // MARK: Charts

    private struct Frame {
        let width = 1000.0, height = 260.0, left = 48.0, right = 20.0, top = 10.0, bottom = 28.0
        let x0: Double, x1: Double, y0: Double, y1: Double
        func x(_ v: Double) -> Double { left + (x1 > x0 ? (v - x0) / (x1 - x0) : 0) * (width - left - right) }
        func y(_ v: Double) -> Double { height - bottom - (y1 > y0 ? (min(max(v, y0), y1) - y0) / (y1 - y0) : 0) * (height - top - bottom) }
    }

    private func axes(_ fr: Frame, yDigits: Int) -> String {
        var s = "<line x1=\"\(fr.left)\" y1=\"\(fr.height - fr.bottom)\" x2=\"\(fr.width - fr.right)\" y2=\"\(fr.height - fr.bottom)\" stroke=\"#d9dde6\"/>"
        s += "<line x1=\"\(fr.left)\" y1=\"\(fr.top)\" x2=\"\(fr.left)\" y2=\"\(fr.height - fr.bottom)\" stroke=\"#d9dde6\"/>"
        for i in 0...4 {
            let v = fr.y0 + (fr.y1 - fr.y0) * Double(i) / 4
            s += "<text x=\"4\" y=\"\(f(fr.y(v) + 4))\">\(String(format: "%.\(yDigits)f", v))</text>"
            let e = fr.x0 + (fr.x1 - fr.x0) * Double(i) / 4
            s += "<text x=\"\(f(fr.x(e)))\" y=\"\(f(fr.height - 8))\" text-anchor=\"middle\">\(Int(e))</text>"
        }
        return s
    }

    /// Segment starts (grey dashed, labelled) and the first head's alerts (red raised, green cleared).
    private func marks(_ fr: Frame) -> String {
        var s = ""
        for (i, start) in segmentStarts.enumerated() where i > 0 {
            s += "<line class=\"segment-mark\" data-event=\"\(start)\" x1=\"\(f(fr.x(Double(start))))\" y1=\"\(fr.top)\" x2=\"\(f(fr.x(Double(start))))\" y2=\"\(fr.height - fr.bottom)\" stroke=\"#6b7385\" stroke-dasharray=\"6 4\"/>"
            s += "<text x=\"\(f(fr.x(Double(start)) + 4))\" y=\"\(fr.top + 12)\">segment \(i + 1)</text>"
        }
        guard let first = report.heads.first, let series = first.series else { return s }
        for alert in first.alerts {
            let changes: [(Int, String, String)] = [(alert.raisedAt, "raised", "#c33d3d")] + (alert.clearedAt.map { [($0, "cleared", "#2f8f4e")] } ?? [])
            for (at, state, color) in changes where at < series.events.count {
                let e = series.events[at]
                s += "<line class=\"alert-mark\" data-kind=\"\(alert.kind.rawValue)\" data-state=\"\(state)\" data-event=\"\(e)\" x1=\"\(f(fr.x(Double(e))))\" y1=\"\(fr.top)\" x2=\"\(f(fr.x(Double(e))))\" y2=\"\(fr.height - fr.bottom)\" stroke=\"\(color)\" stroke-width=\"1.5\"\(state == "cleared" ? " stroke-dasharray=\"3 3\"" : "")/>"
            }
        }
        return s
    }

    /// Indices of `count` points split into at most ``maximumPoints`` consecutive buckets.
    private func buckets(_ count: Int) -> [Range<Int>] {
        let size = max(1, (count + maximumPoints - 1) / maximumPoints)
        return stride(from: 0, to: count, by: size).map { $0..<min(count, $0 + size) }
    }

    private func accuracyChart() -> String {
        let last = Double(max(1, report.events - 1))
        let fr = Frame(x0: 0, x1: last, y0: 0, y1: 1)
        var s = "<svg id=\"accuracy-chart\" viewBox=\"0 0 \(Int(fr.width)) \(Int(fr.height))\">" + axes(fr, yDigits: 2) + marks(fr)
        var legend = ""
        for (h, head) in report.heads.enumerated() {
            guard let series = head.series, !series.events.isEmpty else { continue }
            let color = Self.colors[h % Self.colors.count]
            // Rolling accuracy over the last `window` events, sampled at the end of each bucket.
            var prefix = [0]
            for c in series.correct { prefix.append(prefix.last! + (c ? 1 : 0)) }
            var points: [String] = []
            for b in buckets(series.events.count) {
                let i = b.upperBound - 1
                let from = max(0, i + 1 - window)
                let value = Double(prefix[i + 1] - prefix[from]) / Double(i + 1 - from)
                points.append("\(f(fr.x(Double(series.events[i])))),\(f(fr.y(value)))")
            }
            s += "<polyline class=\"accuracy\" data-head=\"\(escape(head.name))\" data-points=\"\(points.count)\" points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
            legend += "<span><i style=\"background:\(color)\"></i>\(escape(head.name))</span>"
        }
        s += "</svg>"
        return s + "<div class=\"legend\">\(legend)<span><i style=\"background:#c33d3d\"></i>alert raised</span><span><i style=\"background:#2f8f4e\"></i>alert cleared</span><span><i style=\"background:#6b7385\"></i>segment start</span></div>\n"
    }

    private func scoreChart() -> String {
        guard let first = report.heads.first, let series = first.series, series.scores.contains(where: { $0 != nil }) else {
            return "<p id=\"score-chart-none\">The drift monitor's input scoring is off.</p>\n"
        }
        let scores = series.scores.compactMap { $0 }.sorted()
        var top = scores[Int(0.98 * Double(scores.count - 1))]
        for t in series.thresholds { if let t { top = max(top, 3 * t) } }
        let fr = Frame(x0: 0, x1: Double(max(1, report.events - 1)), y0: 0, y1: top)
        var s = "<svg id=\"score-chart\" viewBox=\"0 0 \(Int(fr.width)) \(Int(fr.height))\">" + axes(fr, yDigits: 0) + marks(fr)
        var maxima: [String] = []
        var threshold: [String] = []
        var dots = ""
        for b in buckets(series.events.count) {
            let x = f(fr.x(Double(series.events[b.upperBound - 1])))
            if let m = b.compactMap({ series.scores[$0] }).max() { maxima.append("\(x),\(f(fr.y(m)))") }
            if let t = series.thresholds[b.upperBound - 1] { threshold.append("\(x),\(f(fr.y(t)))") }
            if let i = b.first(where: { series.flagged[$0] }), let score = series.scores[i] {
                dots += "<circle class=\"flagged\" data-event=\"\(series.events[i])\" cx=\"\(f(fr.x(Double(series.events[i]))))\" cy=\"\(f(fr.y(score)))\" r=\"2.5\" fill=\"#c33d3d\"/>"
            }
        }
        s += "<polyline class=\"score\" data-points=\"\(maxima.count)\" points=\"\(maxima.joined(separator: " "))\" fill=\"none\" stroke=\"#2457c5\" stroke-width=\"1\"/>"
        s += "<polyline class=\"threshold\" data-points=\"\(threshold.count)\" points=\"\(threshold.joined(separator: " "))\" fill=\"none\" stroke=\"#d98b1c\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>"
        s += dots + "</svg>"
        return s + "<div class=\"legend\"><span><i style=\"background:#2457c5\"></i>score (d&sup2;)</span><span><i style=\"background:#d98b1c\"></i>threshold</span><span><i style=\"background:#c33d3d\"></i>flagged</span></div>\n"
    }

    private func reliability(_ head: HeadResult, color: String) -> String {
        let size = 240.0, pad = 30.0
        func p(_ v: Double) -> Double { pad + v * (size - 2 * pad) }
        func q(_ v: Double) -> Double { size - pad - v * (size - 2 * pad) }
        var s = "<div><svg class=\"reliability\" data-head=\"\(escape(head.name))\" viewBox=\"0 0 \(Int(size)) \(Int(size))\" width=\"\(Int(size))\">"
        s += "<line x1=\"\(p(0))\" y1=\"\(q(0))\" x2=\"\(p(1))\" y2=\"\(q(1))\" stroke=\"#d9dde6\" stroke-dasharray=\"4 3\"/>"
        s += "<line x1=\"\(p(0))\" y1=\"\(q(0))\" x2=\"\(p(1))\" y2=\"\(q(0))\" stroke=\"#d9dde6\"/><line x1=\"\(p(0))\" y1=\"\(q(0))\" x2=\"\(p(0))\" y2=\"\(q(1))\" stroke=\"#d9dde6\"/>"
        let bins = head.statistics.reliability
        let w = (size - 2 * pad) / Double(bins.count)
        for (b, bin) in bins.enumerated() {
            guard let accuracy = bin.accuracy, let confidence = bin.confidence else { continue }
            s += "<rect class=\"bin\" data-events=\"\(bin.events)\" data-confidence=\"\(String(format: "%.4f", confidence))\" data-accuracy=\"\(String(format: "%.4f", accuracy))\" x=\"\(f(p(0) + Double(b) * w + 1))\" y=\"\(f(q(accuracy)))\" width=\"\(f(w - 2))\" height=\"\(f(q(0) - q(accuracy)))\" fill=\"\(color)\" opacity=\"0.75\"/>"
        }
        s += "<text x=\"\(p(0))\" y=\"\(size - 8)\">0</text><text x=\"\(p(1) - 6)\" y=\"\(size - 8)\">1</text><text x=\"\(p(0.3))\" y=\"\(size - 8)\">confidence</text>"
        s += "<text x=\"4\" y=\"\(q(1) + 4)\">1</text><text x=\"4\" y=\"\(q(0.5))\">acc</text>"
        s += "</svg><div class=\"legend\"><span>\(escape(head.name)): ECE \(String(format: "%.4f", head.statistics.expectedCalibrationError))</span></div></div>"
        return s
    }

    private func alertsTable() -> String {
        guard let first = report.heads.first, !first.alerts.isEmpty else { return "<p id=\"alerts-none\">none</p>\n" }
        var s = "<table id=\"alerts\"><thead><tr><th>kind</th><th>raised at event</th><th>value / threshold</th><th>cleared at event</th><th>reason</th></tr></thead><tbody>"
        for a in first.alerts {
            let at = first.series.map { a.raisedAt < $0.events.count ? $0.events[a.raisedAt] : a.raisedAt } ?? a.raisedAt
            let cleared = a.clearedAt.map { c in first.series.map { c < $0.events.count ? $0.events[c] : c } ?? c }
            s += "<tr data-kind=\"\(a.kind.rawValue)\" data-event=\"\(at)\"><td>\(a.kind.rawValue)</td><td>\(at)</td><td>\(String(format: "%.3f / %.3f", a.value, a.threshold))</td><td>\(cleared.map(String.init) ?? "active")</td><td>\(a.clearReason?.rawValue ?? "")</td></tr>"
        }
        return s + "</tbody></table>\n"
    }
}
