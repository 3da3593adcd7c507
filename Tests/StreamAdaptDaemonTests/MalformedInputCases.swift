@testable import StreamAdaptDaemon

/// Malformed and well-formed input events, JSONTestSuite-style (github.com/nst/JSONTestSuite):
/// `n_` cases must be refused, `i_` cases are implementation-defined (the decision is in the comment
/// beside each), `y_` cases must be accepted; the rest test the decoder's own codes. Used by the
/// decoder's unit tests (MalformedInputTests) and meant to be sent through the broker by an
/// integration test: every event is for a pipeline with ``dimension`` = 8 and the classes
/// ``classes`` (those of `SyntheticStream`), accepted events have distinct ids, and their labels are
/// valid there except where a comment says otherwise.
///
/// `offset` is the byte offset the error names (`byte N` in its message). The offsets were computed
/// from the bytes when the table was written (where the faulty token is), independently of the
/// decoder; the 12 rows where the two first disagreed were checked by hand (all were the table's
/// mistakes: miscounted string offsets, a marker that matched too early).
enum MalformedInputCases {
    static let dimension = 8
    static let classes = ["alpha", "beta", "gamma"]

    /// Messages the decoder (dimension 8, default limits) must refuse, with the code and offset.
    static let cases: [(name: String, bytes: [UInt8], code: InputError.Code, offset: Int)] = [
        ("n_structure_empty", [], .unparseable, 0),
        ("n_structure_whitespace_only", cat(Array(#" "#.utf8), [0x09, 0x0D, 0x0A]), .unparseable, 4),
        ("n_structure_UTF8_BOM", cat([0xEF, 0xBB, 0xBF], Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .unparseable, 0),
        ("i_structure_UTF-8_BOM_empty_object", cat([0xEF, 0xBB, 0xBF], Array(#"{}"#.utf8)), .unparseable, 0),
        ("n_structure_top_level_array", Array(#"[1,0,0,0,0,0,0,0]"#.utf8), .unparseable, 0),
        ("n_structure_top_level_string", Array(#""a""#.utf8), .unparseable, 0),
        ("n_structure_top_level_null", Array(#"null"#.utf8), .unparseable, 0),
        ("n_structure_trailing_garbage", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]} x"#.utf8), .unparseable, 41),
        ("n_structure_two_objects", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]}{}"#.utf8), .unparseable, 40),
        ("n_structure_object_with_trailing_garbage", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]}#"#.utf8), .unparseable, 40),
        ("n_structure_unclosed_object", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]"#.utf8), .unparseable, 39),
        ("n_structure_unclosed_array", Array(#"{"id":"a","embedding":[1,0"#.utf8), .unparseable, 26),
        ("n_structure_lone_open_brace", Array(#"{"#.utf8), .unparseable, 1),
        ("n_structure_open_object_open_string", Array(#"{"a"#.utf8), .unparseable, 1),
        ("n_structure_close_unopened_array", Array(#"{"id":"a"]"#.utf8), .unparseable, 9),
        ("n_structure_unclosed_array_in_ignored_field", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[{}"#.utf8), .unparseable, 47),
        ("n_structure_array_with_unclosed_string", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":["asd]}"#.utf8), .unparseable, 45),
        ("n_structure_null_byte_outside_string", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]"#.utf8), [0x00], Array(#"}"#.utf8)), .unparseable, 39),
        ("n_structure_U+2060_word_joiner", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0]"#.utf8), [0xE2, 0x81, 0xA0], Array(#"}"#.utf8)), .unparseable, 39),
        ("i_string_utf16BE_no_BOM", cat([0x00], Array(#"{"#.utf8), [0x00], Array(#"}"#.utf8)), .unparseable, 0),
        ("i_string_utf16LE_no_BOM", cat(Array(#"{"#.utf8), [0x00], Array(#"}"#.utf8), [0x00]), .unparseable, 1),
        ("i_string_UTF-16LE_with_BOM", cat([0xFF, 0xFE], Array(#"{"#.utf8), [0x00], Array(#"}"#.utf8), [0x00]), .unparseable, 0),
        ("n_object_trailing_comma", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],}"#.utf8), .unparseable, 39),
        ("n_object_two_commas_in_a_row", Array(#"{"id":"a",,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 10),
        ("n_object_missing_colon", Array(#"{"id" "a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 6),
        ("n_object_comma_instead_of_colon", Array(#"{"x",1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 4),
        ("n_object_double_colon", Array(#"{"x"::1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 5),
        ("n_object_missing_comma", Array(#"{"id":"a" "embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 10),
        ("n_object_missing_value", Array(#"{"id":,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 6),
        ("n_object_missing_value_in_ignored_field", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":}"#.utf8), .unparseable, 44),
        ("n_object_non_string_key", Array(#"{1:1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 1),
        ("n_object_single_quote", Array(#"{'id':'a',"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 1),
        ("n_object_unquoted_key", Array(#"{x:1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .unparseable, 1),
        ("n_object_key_with_single_quotes_nested", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":{'a':1}}"#.utf8), .unparseable, 45),
        ("n_array_trailing_comma_embedding", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0,]}"#.utf8), .unparseable, 38),
        ("n_array_trailing_comma_ignored", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[1,]}"#.utf8), .unparseable, 46),
        ("n_array_extra_comma", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[1,,2]}"#.utf8), .unparseable, 47),
        ("n_array_leading_comma", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[,1]}"#.utf8), .unparseable, 45),
        ("n_array_missing_comma_embedding", Array(#"{"id":"a","embedding":[1 0,0,0,0,0,0,0]}"#.utf8), .unparseable, 25),
        ("n_array_colon_instead_of_comma", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":["":1]}"#.utf8), .unparseable, 47),
        ("n_array_unclosed_with_new_lines", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[1,"#.utf8), [0x0A], Array(#"1"#.utf8), [0x0A], Array(#",1}"#.utf8)), .unparseable, 52),
        ("n_incomplete_true", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":tru}"#.utf8), .unparseable, 44),
        ("n_incomplete_false", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":fals}"#.utf8), .unparseable, 44),
        ("n_incomplete_null", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":nul}"#.utf8), .unparseable, 44),
        ("n_literal_nulll", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":nulll}"#.utf8), .unparseable, 44),
        ("n_literal_True_capital", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":True}"#.utf8), .unparseable, 44),
        ("n_label_bad_literal", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":nil}"#.utf8), .unparseable, 48),
        ("n_number_leading_zero", Array(#"{"id":"a","embedding":[01,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_neg_leading_zero", Array(#"{"id":"a","embedding":[-01,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_starting_with_dot", Array(#"{"id":"a","embedding":[.5,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_real_without_fractional_part", Array(#"{"id":"a","embedding":[5.,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_1.e5", Array(#"{"id":"a","embedding":[1.e5,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_1e", Array(#"{"id":"a","embedding":[1e,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_1e+", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":1e+}"#.utf8), .invalidNumber, 44),
        ("n_number_0_capital_E", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":0E}"#.utf8), .invalidNumber, 44),
        ("n_number_plus_1", Array(#"{"id":"a","embedding":[+1,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_minus_alone", Array(#"{"id":"a","embedding":[-,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_minus_space_1", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":- 1}"#.utf8), .invalidNumber, 44),
        ("n_number_hex", Array(#"{"id":"a","embedding":[0x10,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_NaN", Array(#"{"id":"a","embedding":[NaN,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_Infinity", Array(#"{"id":"a","embedding":[Infinity,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 23),
        ("n_number_minus_Infinity", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":-Infinity}"#.utf8), .invalidNumber, 44),
        ("n_number_two_dots", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":1.5.3}"#.utf8), .invalidNumber, 44),
        ("n_number_with_alpha", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":1.2a}"#.utf8), .invalidNumber, 44),
        ("n_number_leading_zero_in_id", Array(#"{"id":01,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .invalidNumber, 6),
        ("n_number_leading_zero_in_label", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":01}"#.utf8), .invalidNumber, 48),
        ("n_number_dot_in_ts", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"ts":1.}"#.utf8), .invalidNumber, 45),
        ("n_number_U+FF11_fullwidth_digit_one", cat(Array(#"{"id":"a","embedding":["#.utf8), [0xEF, 0xBC, 0x91], Array(#",0,0,0,0,0,0,0]}"#.utf8)), .unparseable, 23),
        ("n_string_unescaped_ctrl_char", cat(Array(#"{"id":"a"#.utf8), [0x01], Array(#"b","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .controlCharacter, 8),
        ("n_string_unescaped_tab", cat(Array(#"{"id":"a"#.utf8), [0x09], Array(#"b","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .controlCharacter, 8),
        ("n_string_unescaped_newline_in_key", cat(Array(#"{"x"#.utf8), [0x0A], Array(#"y":1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .controlCharacter, 3),
        ("n_string_unescaped_NUL_in_ignored_field", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":""#.utf8), [0x00], Array(#""}"#.utf8)), .controlCharacter, 45),
        ("n_string_unescaped_DEL_is_allowed_but_US_is_not", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":""#.utf8), [0x7F, 0x1F], Array(#""}"#.utf8)), .controlCharacter, 46),
        ("n_string_unterminated", Array(#"{"id":"abc"#.utf8), .unparseable, 6),
        ("n_string_escape_at_end", Array(#"{"id":"a\"#.utf8), .unparseable, 6),
        ("n_string_escape_x", Array(#"{"id":"\x41","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .invalidEscape, 7),
        ("n_string_escape_U_capital", Array(#"{"id":"\U0041","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .invalidEscape, 7),
        ("n_string_escaped_single_quote", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\'"}"#.utf8), .invalidEscape, 45),
        ("n_string_escaped_emoji", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\"#.utf8), [0xF0, 0x9F, 0x8C, 0x80], Array(#""}"#.utf8)), .invalidEscape, 45),
        ("n_string_incomplete_escaped_character", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\u12"}"#.utf8), .invalidEscape, 45),
        ("n_string_invalid_unicode_escape", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\u12G4"}"#.utf8), .invalidEscape, 45),
        ("n_string_escape_in_key", Array(#"{"\a":1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .invalidEscape, 2),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_lone_second_surrogate", Array(#"{"id":"\uDC00","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .loneSurrogate, 7),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_1st_surrogate_but_2nd_missing", Array(#"{"id":"\uD800","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .loneSurrogate, 7),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_1st_valid_surrogate_2nd_invalid", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uD888\u1234"}"#.utf8), .loneSurrogate, 45),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_incomplete_surrogate_and_escape_valid", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uD800\n"}"#.utf8), .loneSurrogate, 45),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_incomplete_surrogates_escape_valid", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uD800\uD800\n"}"#.utf8), .loneSurrogate, 45),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_inverted_surrogates_U+1D11E", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uDd1e\uD834"}"#.utf8), .loneSurrogate, 45),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_invalid_lonely_surrogate", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\ud800abc"}"#.utf8), .loneSurrogate, 45),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_object_key_lone_2nd_surrogate", Array(#"{"\uDFAA":0,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .loneSurrogate, 2),
        // i_: refused as lone-surrogate (RFC 8259 8.2 leaves it open; a lone surrogate is not text)
        ("i_string_incomplete_surrogate_pair", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uDd1ea"}"#.utf8), .loneSurrogate, 45),
        // the high surrogate is followed by a \u escape without 4 hex digits: that escape is reported, at its backslash
        ("n_string_incomplete_surrogate_second_escape", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":"\uD800\u"}"#.utf8), .invalidEscape, 51),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_overlong_sequence_2_bytes", cat(Array(#"{"id":"a"#.utf8), [0xC0, 0xAF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_overlong_sequence_3_bytes", cat(Array(#"{"id":"a"#.utf8), [0xE0, 0x80, 0xAF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_overlong_sequence_4_bytes", cat(Array(#"{"id":"a"#.utf8), [0xF0, 0x80, 0x80, 0xAF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_overlong_sequence_6_bytes", cat(Array(#"{"id":"a"#.utf8), [0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_overlong_sequence_6_bytes_null", cat(Array(#"{"id":"a"#.utf8), [0xFC, 0x80, 0x80, 0x80, 0x80, 0x80], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_UTF8_surrogate_U+D800", cat(Array(#"{"id":"a"#.utf8), [0xED, 0xA0, 0x80], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_UTF8_surrogate_U+DFFF", cat(Array(#"{"id":"a"#.utf8), [0xED, 0xBF, 0xBF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_truncated-utf-8", cat(Array(#"{"id":"a"#.utf8), [0xE0, 0xFF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_truncated_3_byte_sequence", cat(Array(#"{"id":"a"#.utf8), [0xE2, 0x82], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_not_in_unicode_range", cat(Array(#"{"id":"a"#.utf8), [0xF4, 0xBF, 0xBF, 0xBF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_F5", cat(Array(#"{"id":"a"#.utf8), [0xF5, 0x80, 0x80, 0x80], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_FF", cat(Array(#"{"id":"a"#.utf8), [0xFF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_C1", cat(Array(#"{"id":"a"#.utf8), [0xC1, 0xBF], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_lone_utf8_continuation_byte", cat(Array(#"{"id":"a"#.utf8), [0x81], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up)
        ("i_string_iso_latin_1", cat(Array(#"{"id":"a"#.utf8), [0xE9], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 8),
        // i_: refused as invalid-utf8 (RFC 8259 8.1: JSON text is UTF-8; no replacement character is made up) (the offset is the first bad byte, after two valid characters)
        ("i_string_UTF-8_invalid_sequence", cat(Array(#"{"id":"a"#.utf8), [0xE6, 0x97, 0xA5, 0xD1, 0x88, 0xFA], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 13),
        ("n_string_invalid_utf8_in_key", cat(Array(#"{""#.utf8), [0xC3], Array(#"":1,"id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .invalidUTF8, 2),
        ("n_string_invalid_utf8_in_nested_ignored_string", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[{"y":["ok",""#.utf8), [0xED, 0xA0, 0x80], Array(#""]}]}"#.utf8)), .invalidUTF8, 57),
        ("n_string_truncated_at_end_of_input", cat(Array(#"{"id":"a"#.utf8), [0xE2, 0x82]), .invalidUTF8, 8),
        ("n_duplicate_id", Array(#"{"id":"a","id":"b","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .duplicateKey, 10),
        ("n_duplicate_embedding", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .duplicateKey, 40),
        ("n_duplicate_label", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":0,"label":1}"#.utf8), .duplicateKey, 50),
        ("n_duplicate_ts", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"ts":0,"ts":0}"#.utf8), .duplicateKey, 47),
        ("n_duplicate_id_escaped", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"\u0069d":"b"}"#.utf8), .duplicateKey, 40),
        ("n_duplicate_ignored_key", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":1,"x":2}"#.utf8), .duplicateKey, 46),
        ("n_duplicate_ignored_key_escaped", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":1,"\u0078":2}"#.utf8), .duplicateKey, 46),
        ("n_duplicate_in_nested_object", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":{"a":1,"a":2}}"#.utf8), .duplicateKey, 51),
        ("n_duplicate_deep_in_ignored_field", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":[{"k":[{"a":1,"b":{"c":{},"d":[],"c":2}}]}]}"#.utf8), .duplicateKey, 77),
        ("n_duplicate_after_a_sibling_object_closes", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"x":{"a":{"b":1},"b":2,"a":3}}"#.utf8), .duplicateKey, 63),
        ("n_duplicate_empty_key", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"":1,"":2}"#.utf8), .duplicateKey, 45),
        ("n_depth_64_arrays_in_ignored_field", cat(Array(#"{"x":"#.utf8), Array(repeating: 0x5B, count: 64), Array(repeating: 0x5D, count: 64), Array(#","id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .tooDeep, 68),
        ("n_depth_64_objects_in_ignored_field", cat(Array(#"{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":{"x":0"#.utf8), Array(repeating: 0x7D, count: 64), Array(#","id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .tooDeep, 320),
        // i_: refused, nesting is limited to 64 (the event object included)
        ("i_structure_500_nested_arrays", cat(Array(#"{"x":"#.utf8), Array(repeating: 0x5B, count: 500), Array(repeating: 0x5D, count: 500), Array(#","id":"a","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .tooDeep, 68),
        ("n_depth_unclosed_100000_arrays", cat(Array(#"{"x":"#.utf8), Array(repeating: 0x5B, count: 100000)), .tooDeep, 68),
        ("n_depth_nested_embedding", cat(Array(#"{"id":"a","embedding":"#.utf8), Array(repeating: 0x5B, count: 64), Array(repeating: 0x5D, count: 64), Array(#"}"#.utf8)), .tooDeep, 85),
        ("wrong_type_embedding_string", Array(#"{"id":"a","embedding":"1,0,0"}"#.utf8), .wrongType, 22),
        ("wrong_type_embedding_element_string", Array(#"{"id":"a","embedding":[1,0,0,"0",0,0,0,0]}"#.utf8), .wrongType, 29),
        ("wrong_type_embedding_element_null", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,null]}"#.utf8), .wrongType, 37),
        ("wrong_type_embedding_nested", Array(#"{"id":"a","embedding":[[1],0,0,0,0,0,0,0]}"#.utf8), .wrongType, 23),
        ("wrong_type_id_true", Array(#"{"id":true,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .wrongType, 6),
        ("wrong_type_id_object", Array(#"{"id":{"a":1},"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .wrongType, 6),
        ("wrong_type_label_true", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":true}"#.utf8), .wrongType, 48),
        ("wrong_type_label_fraction", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":1.5}"#.utf8), .wrongType, 48),
        ("wrong_type_label_array", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":[1]}"#.utf8), .wrongType, 48),
        ("wrong_type_ts_string", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"ts":"yesterday"}"#.utf8), .wrongType, 45),
        ("wrong_type_ts_fraction", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"ts":1.5}"#.utf8), .wrongType, 45),
        // the whole message is checked as JSON before its content: the syntax error is reported, not the earlier wrong type
        ("syntax_error_after_wrong_type_wins", Array(#"{"id":true,"embedding":[1,0,0,0,0,0,0,0],"x":01}"#.utf8), .invalidNumber, 45),
        ("syntax_error_inside_wrong_type_wins", cat(Array(#"{"id":"a","embedding":[1,""#.utf8), [0x01], Array(#"",0,0,0,0,0,0]}"#.utf8)), .controlCharacter, 26),
        ("missing_id", Array(#"{"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .missingID, 30),
        ("empty_id", Array(#"{"id":"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .missingID, 6),
        ("missing_embedding", Array(#"{"id":"a"}"#.utf8), .missingEmbedding, 9),
        ("empty_object", Array(#"{}"#.utf8), .missingEmbedding, 1),
        ("wrong_dimension_short", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0]}"#.utf8), .wrongDimension, 22),
        ("wrong_dimension_long", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0,0]}"#.utf8), .wrongDimension, 22),
        ("wrong_dimension_empty", Array(#"{"id":"a","embedding":[]}"#.utf8), .wrongDimension, 22),
        ("non_finite_float32_overflow", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,1e39]}"#.utf8), .nonFinite, 37),
        ("non_finite_double_overflow", Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,-1e400]}"#.utf8), .nonFinite, 37),
        ("id_too_long", cat(Array(#"{"id":""#.utf8), Array(repeating: 0x61, count: 257), Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .idTooLong, 6),
        ("id_too_long_after_unescaping", Array(#"{"id":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), .idTooLong, 6),
        ("id_too_long_number", cat(Array(#"{"id":"#.utf8), Array(repeating: 0x31, count: 257), Array(#","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), .idTooLong, 6),
        ("label_too_long", cat(Array(#"{"id":"a","embedding":[1,0,0,0,0,0,0,0],"label":""#.utf8), Array(repeating: 0x62, count: 257), Array(#""}"#.utf8)), .labelTooLong, 48),
    ]

    /// Messages the decoder must accept, with the values it must decode.
    static let accepted: [(name: String, bytes: [UInt8], id: String, label: EventLabel, embedding: [Float])] = [
        ("y_minimal", Array(#"{"id":"y1","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y1", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_reordered_with_every_field", Array(#"{"ts":1700000000123,"label":2,"embedding":[0,0,1,0,0,0,0,0],"id":"y2"}"#.utf8), "y2", .index(2), [0, 0, 1, 0, 0, 0, 0, 0]),
        ("y_whitespace_everywhere", cat(Array(#" "#.utf8), [0x09, 0x0D, 0x0A], Array(#"{ "#.utf8), [0x09, 0x0D, 0x0A], Array(#""id" "#.utf8), [0x09, 0x0D, 0x0A], Array(#": "#.utf8), [0x09, 0x0D, 0x0A], Array(#""y3" "#.utf8), [0x09, 0x0D, 0x0A], Array(#", "embedding" :"#.utf8), [0x0A], Array(#"[ 1 ,"#.utf8), [0x09], Array(#"0 ,"#.utf8), [0x0D], Array(#"0, 0,0,0,0,0"#.utf8), [0x0A], Array(#"] , "label" : null } "#.utf8), [0x09, 0x0D, 0x0A]), "y3", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // a number id is kept as its text
        ("y_numeric_id", Array(#"{"id":7,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "7", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_numeric_id_exponent", Array(#"{"id":-1.5E+3,"embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "-1.5E+3", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_id_escapes", Array(#"{"id":"y\"\\\/\b\f\n\r\t\u0041\u00e9","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y\"\\/\u{8}\u{C}\u{A}\u{D}\u{9}A\u{E9}", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_id_surrogate_pairs", Array(#"{"id":"y\ud83d\ude00\uD834\uDD1E","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y\u{1F600}\u{1D11E}", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // U+FFFF, U+E000, U+10FFFF and DEL are allowed raw
        ("y_id_raw_utf8_1_to_4_bytes", cat(Array(#"{"id":"y"#.utf8), [0xC3, 0xA9, 0xE4, 0xB8, 0xAD, 0xF0, 0x9F, 0x98, 0x80, 0xEF, 0xBF, 0xBF, 0xEE, 0x80, 0x80, 0xF4, 0x8F, 0xBF, 0xBF, 0x7F], Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), "y\u{E9}\u{4E2D}\u{1F600}\u{FFFF}\u{E000}\u{10FFFF}\u{7F}", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_label_name", Array(#"{"id":"y9","embedding":[1,0,0,0,0,0,0,0],"label":"beta"}"#.utf8), "y9", .name("beta"), [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_label_name_escaped", Array(#"{"id":"y10","embedding":[1,0,0,0,0,0,0,0],"label":"g\u0061mma"}"#.utf8), "y10", .name("gamma"), [1, 0, 0, 0, 0, 0, 0, 0]),
        // a number equal to an integer is a class index (as JSON Schema's "integer")
        ("y_label_integral_forms", Array(#"{"id":"y11","embedding":[1,0,0,0,0,0,0,0],"label":1.0}"#.utf8), "y11", .index(1), [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_label_exponent", Array(#"{"id":"y12","embedding":[1,0,0,0,0,0,0,0],"label":2e0,"ts":null}"#.utf8), "y12", .index(2), [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_embedding_exponents", Array(#"{"id":"y13","embedding":[1e0,1E1,1e-1,1E+1,-0.0,0.5e-3,123e-2,1.0e+1]}"#.utf8), "y13", .none, [1, 10, 0.1, 10, -0.0, 0.0005, 1.23, 10]),
        ("y_embedding_realistic_digits", Array(#"{"id":"y14","embedding":[0.0132471938,-0.0271532846,0.30000000000000004,12345678901234567890,1e-7,-6.02214076e23,0,0]}"#.utf8), "y14", .none, [0.0132471938, -0.0271532846, 0.30000000000000004, 1.2345678901234567e+19, 1e-07, -6.02214076e+23, 0, 0]),
        // i_: accepted, an underflowing value is 0 (correctly rounded)
        ("i_number_double_huge_neg_exp", Array(#"{"id":"y15","embedding":[1,0,0,0,0,0,0,123.456e-789]}"#.utf8), "y15", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // i_: accepted, below float32 range rounds to 0
        ("i_number_real_underflow_and_tiny", Array(#"{"id":"y16","embedding":[1,1e-46,0,0,0,0,0,0]}"#.utf8), "y16", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_ignored_fields_of_every_type", Array(#"{"s":"str\u0000\"","n":-0,"e":1E+2,"f":-1.5e-2,"t":true,"F":false,"z":null,"a":[],"o":{},"aa":[[],[{}],[1,"2",null,true,{"k":[false]}]],"oo":{"a":{"b":{"c":"d"}},"e":[]},"":"empty key","\u0078":"escaped key","id":"y17","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y17", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // i_: numbers beyond double range are valid JSON and accepted where they are not read
        ("i_number_huge_values_in_ignored_fields", Array(#"{"big":123456789012345678901234567890,"huge":1.5e999,"neg":-1e400,"tiny":1e-400,"id":"y18","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y18", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_same_key_in_sibling_objects", Array(#"{"x":[{"a":1},{"a":2}],"y":{"a":{"a":{"a":1}}},"id":"y19","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y19", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // the limit: 63 arrays inside the event object make 64 levels
        ("y_depth_63_in_ignored_field", cat(Array(#"{"x":"#.utf8), Array(repeating: 0x5B, count: 63), Array(repeating: 0x5D, count: 63), Array(#","id":"y20","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), "y20", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_escaped_known_keys", Array(#"{"\u0069d":"y21","emb\u0065dding":[1,0,0,0,0,0,0,0],"l\u0061bel":0}"#.utf8), "y21", .index(0), [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_id_escaped_slash_and_unicode_escape_of_control", Array(#"{"id":"y22\u001f\/","embedding":[1,0,0,0,0,0,0,0]}"#.utf8), "y22\u{1F}/", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // exactly input.maxIdBytes (default 256)
        ("y_id_256_bytes", cat(Array(#"{"id":""#.utf8), Array(repeating: 0x79, count: 256), Array(#"","embedding":[1,0,0,0,0,0,0,0]}"#.utf8)), String(repeating: "y", count: 256), .none, [1, 0, 0, 0, 0, 0, 0, 0]),
        // exactly the label limit (256 bytes); not a class, so the model refuses it (unknown-class)
        ("y_label_256_bytes", cat(Array(#"{"id":"y24","embedding":[1,0,0,0,0,0,0,0],"label":""#.utf8), Array(repeating: 0x6C, count: 256), Array(#""}"#.utf8)), "y24", .name(String(repeating: "l", count: 256)), [1, 0, 0, 0, 0, 0, 0, 0]),
        ("y_no_trailing_whitespace_after_number_member", Array(#"{"id":"y25","embedding":[1,0,0,0,0,0,0,0],"ts":-5}"#.utf8), "y25", .none, [1, 0, 0, 0, 0, 0, 0, 0]),
    ]

    /// The concatenation of `parts` (text and raw bytes).
    static func cat(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
}
