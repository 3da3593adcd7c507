import Foundation
import Testing

/// The live page in a real browser: `streamadapt demo --dashboard` replays the bundled sample through the
/// embedded broker and keeps the daemon and its page up; headless Chromium renders the page, and the
/// checks read the rendered DOM (what the page's script drew), not the HTML the daemon sent. The numbers
/// must match `/api/state` and the predictions topic. A screenshot is left in `.build/test-artifacts`.
@Suite(.serialized)
struct DashboardBrowserTests {
    @Test func theLivePageDrawsTheRunAndTheAlertAfterTheShift() throws {
        try #require(Browser.isAvailable, "headless chromium is missing: run scripts/install-deps")
        try #require(Kcat.isAvailable, "kcat is missing: run scripts/install-deps")
        let demo = try StreamAdaptProcess(["demo", "--dashboard", "--dashboard-port", "0"], capturingStandardOutput: true)
        defer {
            if demo.isRunning {
                kill(demo.processIdentifier, SIGINT)
                _ = demo.waitForExit(seconds: 30)
            }
        }
        #expect(demo.waitForLog(containing: "Ctrl-C to stop", seconds: 120), "demo: \(demo.log.suffix(2000))")
        let url = try #require(demo.log.firstMatch(of: /stay up at (http:\/\/127\.0\.0\.1:\d+\/)/)?.1).description
        let bootstrap = try #require(demo.log.firstMatch(of: /embedded broker at (127\.0\.0\.1:\d+)/)?.1).description

        // What the daemon says (/api/state) once the replay is done and the loop has published again.
        var state: [String: Any] = [:]
        for _ in 0..<50 {
            if let (status, body) = httpGet(url + "api/state"), status == 200,
                let parsed = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any],
                parsed["events"] as? Int == 1200
            {
                state = parsed
                break
            }
            usleep(100_000)
        }
        #expect(state["events"] as? Int == 1200, "api/state: \(state)")
        let series = try #require(state["series"] as? [String: Any])
        let buckets = try #require(series["first"] as? [Int]).count
        let rolling = try #require(series["rolling_accuracy"] as? [Any]).filter { $0 is Double }.count
        let alerts = try #require(state["alerts"] as? [[String: Any]])
        let accuracy = try #require(state["accuracy"] as? Double)
        let model = try #require(state["model"] as? [String: Any])

        // What the page drew.
        let dom = try Browser.dom(url)
        let updates = Int(DOM.attribute(DOM.tags(dom, "span", with: [#"id="status""#]).first ?? "", "data-updates") ?? "") ?? 0
        #expect(updates >= 1, "the page never rendered /api/state")
        let accuracyChart = try #require(DOM.element(dom, id: "accuracy-chart", closing: "</svg>"))
        let accuracyLine = try #require(DOM.tags(accuracyChart, "polyline", with: [#"class="series""#]).first)
        #expect(Int(DOM.attribute(accuracyLine, "data-points") ?? "") == rolling, "accuracy points")
        #expect(rolling > 1000 && buckets == 1200)
        // The input-drift alert: raised after the shift at event 600, drawn at the event the API says.
        let raised = alerts.filter { $0["kind"] as? String == "input-drift" && $0["state"] as? String == "raised" }
        let raisedAt = try #require(raised.first?["event"] as? Int)
        #expect(raisedAt >= 600 && raisedAt < 700, "input drift raised at \(raisedAt)")
        let marks = DOM.tags(accuracyChart, "line", with: [#"class="alert-mark""#, #"data-kind="input-drift""#, #"data-state="raised""#])
        #expect(marks.compactMap { DOM.attribute($0, "data-event") }.contains(String(raisedAt)), "marks: \(marks)")
        let scoreChart = try #require(DOM.element(dom, id: "score-chart", closing: "</svg>"))
        #expect(!DOM.tags(scoreChart, "polyline", with: [#"class="threshold""#]).isEmpty)
        let flaggedDots = DOM.tags(scoreChart, "circle", with: [#"class="flagged""#])
        #expect(!flaggedDots.isEmpty && flaggedDots.allSatisfy { Int(DOM.attribute($0, "data-event") ?? "") ?? 0 >= 550 }, "flagged dots \(flaggedDots.count)")
        let alertRows = DOM.tags(dom, "tr", with: [#"data-kind="input-drift""#])
        #expect(alertRows.contains { DOM.attribute($0, "data-state") == "raised" && DOM.attribute($0, "data-event") == String(raisedAt) })
        #expect(DOM.text(dom, id: "events") == "1200")
        #expect(DOM.text(dom, id: "accuracy") == String(format: "%.3f", accuracy))
        #expect(DOM.text(dom, id: "model-version") == "\(model["version"] as? Int ?? -1)")
        #expect(DOM.tags(dom, "tr", with: ["data-class="]).count == 10)

        // The predictions topic agrees: one per event, the same flagged events and model version.
        let predictions = try Kcat.consume(bootstrap: bootstrap, topic: "predictions")
        #expect(predictions.count == 1200)
        #expect(DOM.text(dom, id: "predictions") == "\(predictions.count)")
        let drifting = predictions.filter { $0.value.contains(#""drifting":true"#) }.count
        #expect(DOM.text(dom, id: "flagged") == "\(drifting)")
        #expect(predictions.last?.value.contains(#""model_version":\#(model["version"] as? Int ?? -1),"#) == true)

        // The Grafana board asks only for metrics the daemon exports (those with a label that appears on
        // first use excepted: dead letters, late labels, rebalances).
        let metrics = try #require(httpGet(url + "metrics")).1
        let board = try String(contentsOf: CommandRunner.packageRoot.appendingPathComponent("etc/grafana/streamadapt.json"), encoding: .utf8)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(board.utf8)) as? [String: Any])
        let panels = try #require(parsed["panels"] as? [[String: Any]])
        #expect(panels.count >= 15)
        let names = Set(board.matches(of: /streamadapt_[a-z_]+/).map { String($0.0) })
        let onFirstUse: Set = ["streamadapt_dead_letters_total", "streamadapt_late_labels_total", "streamadapt_group_rebalances_total"]
        let exported = Set(metrics.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            String(line.prefix { $0 != "{" && $0 != " " })
        })
        for name in names.subtracting(onFirstUse) { #expect(exported.contains(name), "the board's \(name) is not in /metrics") }

        let shot = Browser.artifacts.appendingPathComponent("dashboard.png")
        #expect(try Browser.screenshot(url, to: shot), "no screenshot")
        print("screenshot: \(shot.path)")
        kill(demo.processIdentifier, SIGINT)
        #expect(demo.waitForExit(seconds: 30), "the demo did not stop on Ctrl-C")
        #expect(demo.terminationStatus == 0 && demo.log.contains("stopped"))
    }
}
