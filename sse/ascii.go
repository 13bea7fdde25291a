package sse

import (
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendASCIIJSON appends src, a JSON text, to dst with every non-ASCII rune
// written as a \uXXXX escape (a surrogate pair above U+FFFF) and every invalid
// UTF-8 byte as \ufffd. The result is the same JSON value in pure ASCII, so a
// client that decodes each network chunk separately can never see half a
// character, and JSON.parse restores the text. In valid JSON non-ASCII bytes
// occur only inside strings, where the escapes are valid; src is not otherwise
// checked. CJK text grows about twofold.
func AppendASCIIJSON(dst, src []byte) []byte {
	for len(src) > 0 {
		i := 0
		for i < len(src) && src[i] < utf8.RuneSelf {
			i++
		}
		dst = append(dst, src[:i]...)
		src = src[i:]
		if len(src) == 0 {
			break
		}
		r, size := utf8.DecodeRune(src)
		src = src[size:]
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			dst = appendU(dst, r1)
			dst = appendU(dst, r2)
			continue
		}
		dst = appendU(dst, r) // utf8.RuneError for invalid bytes is U+FFFD
	}
	return dst
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u',
		hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}
