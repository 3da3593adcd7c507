import Foundation
import Testing

/// `streamadapt demo`, the README's main command, end to end.
@Suite struct DemoCommandTests {
    @Test(arguments: ["json", "binary"])
    func demoAdaptsAndAlertsAfterTheShift(format: String) throws {
        let output = try CommandRunner.run(["demo", "--format", format])
        #expect(output.status == 0, "stderr: \(output.stderr.suffix(1500))")
        // No librdkafka noise on a normal run: its clients are torn down before its broker, and the
        // daemon's own Kafka lines are not needed when nothing goes wrong.
        for noise in ["librdkafka", "rdkafka", "FAIL", "brokers are down"] {
            #expect(!output.stderr.contains(noise), "stderr contains \"\(noise)\": \(output.stderr.suffix(1500))")
        }
        #expect(output.stdout.contains("events: 1200 consumed, 1200 predicted and published"))
        #expect(output.stdout.contains("summary (kalman head, \(format) input)"))
        // "prequential accuracy: 0.807 before the shift (events 0..599), 0.585 after it"
        let line = try #require(output.stdout.split(separator: "\n").first { $0.contains("prequential accuracy") })
        let numbers = line.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
        #expect(numbers.count >= 2)
        #expect((numbers.first ?? 0) > 0.75, "\(line)")
        #expect((numbers.last ?? 0) > 0.5, "\(line)")
        #expect(output.stdout.contains("alert input-drift: raised at event 6"), "\(output.stdout)")
        #expect(!output.stdout.contains("before the shift),"))
    }
}
