import ArgumentParser
import Foundation
import StreamAdaptDaemon

/// `streamadapt config`: prints the reference pipeline file generated from the settings table, or
/// checks a pipeline file.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the reference pipeline file (every setting with its default and what it does), or check one.",
        discussion: """
            Without --check, prints etc/streamadapt.yaml, generated from the table of settings that also drives \
            the parsing of pipeline files; regenerate the file with `swift run streamadapt config > etc/streamadapt.yaml`. \
            With --check FILE, reads and validates a pipeline file (without environment overrides) and prints "ok".
            """
    )

    @Option(help: "A pipeline file to read and validate instead.")
    var check: String?

    func run() throws {
        guard let check else {
            print(PipelineConfiguration.reference(), terminator: "")
            return
        }
        do {
            try PipelineConfiguration.load(path: check).validate()
        } catch {
            FileHandle.standardError.write(Data("\(check): \(error)\n".utf8))
            throw ExitCode.failure
        }
        print("\(check): ok")
    }
}
