import Testing

@testable import StreamAdaptCore
@testable import StreamAdaptDaemon

/// Escapes in ids, and the Kalman settings of a pipeline file reaching both Kalman heads.
@Suite struct ReviewFixTests {
    func decodeID(_ idLiteral: String) throws(InputError) -> String {
        let decoder = EventDecoder(dimension: 2, maximumBytes: 1 << 16)
        let bytes = Array("{\"id\":\"\(idLiteral)\",\"embedding\":[1,0]}".utf8)
        let result: Result<DecodedEvent, InputError> = bytes.withUnsafeBytes { raw in
            Result { () throws(InputError) in try decoder.decodeJSON(raw) }
        }
        return try result.get().id
    }

    @Test func surrogatePairsDecodeAndBrokenOnesAreRefused() throws {
        #expect(try decodeID(#"cat-\ud83d\ude00"#) == "cat-\u{1F600}")
        #expect(try decodeID(#"\u00e9"#) == "é")
        // A high surrogate followed by a non-surrogate escape: an input error (dead letter), not a trap.
        let error = try #require(throws: InputError.self) { try decodeID(#"\ud83d\u0041"#) }
        #expect(error.code == .loneSurrogate)
        #expect(error.message.contains("surrogate"))
    }

    @Test func kalmanSectionSetsBothKalmanHeads() throws {
        let config = try PipelineConfiguration.parse(yaml: """
            model:
              classes: x
              head: kalman-diagonal
              kalman:
                observation: softmax
                forgetting: 0.99
            """)
        let full = config.heads.kalman
        let diagonal = config.heads.kalmanDiagonal
        #expect(full.observation == .softmax && diagonal.observation == .softmax)
        #expect(full.forgetting == 0.99 && diagonal.forgetting == 0.99)
        #expect(full.covariance == .full && diagonal.covariance == .diagonal)
        // Each keeps its own prior: the softmax one (10) and the diagonal one (3e-4).
        #expect(full.priorVariance == KalmanConfiguration.softmaxDefaults.priorVariance)
        #expect(diagonal.priorVariance == KalmanConfiguration.diagonalDefaults.priorVariance)
        #expect(diagonal.initialScale == KalmanConfiguration.softmaxDefaults.initialScale)
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 2, values: [1, 0, 0, 1])
        let head = try #require(try config.heads.makeHead(config.head, classes: classes) as? KalmanHead)
        #expect(head.configuration == diagonal)
    }
}
