import Foundation
import Testing

/// `eval --report`: the HTML report rendered by headless Chromium; the checks read the rendered DOM and
/// compare it with `eval --json` of the same run. A screenshot is left in `.build/test-artifacts`.
@Suite struct EvalReportBrowserTests {
    @Test func theReportDrawsEveryHeadTheAlertsAndTheCalibration() throws {
        try #require(Browser.isAvailable, "headless chromium is missing: run scripts/install-deps")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("report.html")
        let sample = SampleEvents.directory.path
        let output = try CommandRunner.run([
            "eval", "--data", "\(sample)@0:600", "--data", "\(sample)@600:1200", "--heads", "kalman,tip,zeroshot",
            "--drift-warmup", "200", "--drift-reference", "300", "--json", "--report", file.path,
        ])
        #expect(output.status == 0, "stderr: \(output.stderr.suffix(2000))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        let heads = try #require(json["heads"] as? [[String: Any]])
        let alerts = try #require(json["alerts"] as? [[String: Any]])

        let dom = try Browser.dom(file.absoluteString)
        let chart = try #require(DOM.element(dom, id: "accuracy-chart", closing: "</svg>"))
        for head in heads {
            let name = try #require(head["name"] as? String)
            let line = DOM.tags(chart, "polyline", with: [#"class="accuracy""#, "data-head=\"\(name)\""])
            #expect(Int(DOM.attribute(line.first ?? "", "data-points") ?? "") ?? 0 >= 1000, "\(name): \(line)")
            let row = try #require(DOM.element(dom, marker: "<tr data-head=\"\(name)\"", closing: "</tr>"))
            let accuracy = try #require(head["prequential_accuracy"] as? Double)
            #expect(row.contains("<td class=\"accuracy\">\(String(format: "%.4f", accuracy))</td>"), "\(name) accuracy \(accuracy)")
            let reliability = try #require(DOM.element(dom, marker: "class=\"reliability\" data-head=\"\(name)\"", closing: "</svg>"))
            let bins = DOM.tags(reliability, "rect", with: [#"class="bin""#])
            #expect(bins.count >= 5, "\(name): \(bins.count) reliability bins")
            #expect(bins.compactMap { Int(DOM.attribute($0, "data-events") ?? "") }.reduce(0, +) == 1200)
        }
        #expect(DOM.tags(chart, "line", with: [#"class="segment-mark""#, #"data-event="600""#]).count == 1)
        // The input-drift alert, raised after the shift at event 600, where eval's JSON says.
        let raised = try #require(alerts.first { $0["kind"] as? String == "input-drift" }?["raised_at"] as? Int)
        #expect(raised >= 600)
        #expect(!DOM.tags(chart, "line", with: [#"class="alert-mark""#, #"data-kind="input-drift""#, #"data-state="raised""#, "data-event=\"\(raised)\""]).isEmpty)
        let score = try #require(DOM.element(dom, id: "score-chart", closing: "</svg>"))
        #expect(Int(DOM.attribute(DOM.tags(score, "polyline", with: [#"class="threshold""#]).first ?? "", "data-points") ?? "") ?? 0 > 100)
        #expect(!DOM.tags(score, "circle", with: [#"class="flagged""#]).isEmpty)

        let shot = Browser.artifacts.appendingPathComponent("eval-report.png")
        #expect(try Browser.screenshot(file.absoluteString, to: shot, width: 1150, height: 1500))
        print("screenshot: \(shot.path)")
    }
}
