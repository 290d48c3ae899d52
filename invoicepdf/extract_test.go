package invoicepdf

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// This file is a small, test-only text extractor for the uncompressed PDFs
// that fpdf writes: it reads every content stream, follows the Td operator
// inside BT…ET and collects the strings shown by Tj and TJ. It is not a
// general PDF parser.

type textItem struct {
	x, y float64
	s    string
}

var streamRE = regexp.MustCompile(`(?s)<<([^>]*)>>\s*stream\r?\n(.*?)\r?\nendstream`)

// extractPages returns the text of each page: items on the same baseline are
// joined left to right with " | ", lines run top to bottom.
func extractPages(pdf []byte) ([]string, error) {
	var pages []string
	for _, m := range streamRE.FindAllSubmatch(pdf, -1) {
		if bytes.Contains(m[1], []byte("/Filter")) {
			return nil, fmt.Errorf("compressed stream (render with compression off)")
		}
		items, err := streamText(m[2])
		if err != nil {
			return nil, err
		}
		if items == nil {
			continue
		}
		pages = append(pages, layout(items))
	}
	return pages, nil
}

func layout(items []textItem) string {
	byLine := map[int64][]textItem{}
	for _, it := range items {
		k := int64(math.Round(it.y * 10))
		byLine[k] = append(byLine[k], it)
	}
	keys := make([]int64, 0, len(byLine))
	for k := range byLine {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] > keys[j] }) // PDF y grows upwards
	var b strings.Builder
	for _, k := range keys {
		line := byLine[k]
		sort.SliceStable(line, func(i, j int) bool { return line[i].x < line[j].x })
		parts := make([]string, len(line))
		for i, it := range line {
			parts[i] = it.s
		}
		b.WriteString(strings.Join(parts, " | "))
		b.WriteByte('\n')
	}
	return b.String()
}

// streamText tokenizes one content stream.
func streamText(s []byte) ([]textItem, error) {
	var (
		items   []textItem
		operand []any
		inText  bool
		x, y    float64
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
			i++
		case c == '(':
			str, n, err := pdfString(s[i:])
			if err != nil {
				return nil, err
			}
			operand = append(operand, str)
			i += n
		case c == '[' || c == ']':
			operand = append(operand, string(c))
			i++
		case c == '/':
			j := i + 1
			for j < len(s) && !isDelim(s[j]) {
				j++
			}
			operand = append(operand, "/"+string(s[i+1:j]))
			i = j
		case c == '-' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			f, err := strconv.ParseFloat(string(s[i:j]), 64)
			if err != nil {
				return nil, err
			}
			operand = append(operand, f)
			i = j
		default:
			j := i
			for j < len(s) && !isDelim(s[j]) {
				j++
			}
			if j == i {
				j++
			}
			switch op := string(s[i:j]); op {
			case "BT":
				inText, x, y = true, 0, 0
			case "ET":
				inText = false
			case "Td", "TD":
				if len(operand) >= 2 {
					dx, _ := operand[len(operand)-2].(float64)
					dy, _ := operand[len(operand)-1].(float64)
					x, y = x+dx, y+dy
				}
			case "Tj", "'", "\"":
				if inText && len(operand) > 0 {
					if str, ok := operand[len(operand)-1].(pdfStr); ok {
						items = append(items, textItem{x, y, decode1252(string(str))})
					}
				}
			case "TJ":
				if inText {
					var b strings.Builder
					for _, o := range operand {
						if str, ok := o.(pdfStr); ok {
							b.WriteString(string(str))
						}
					}
					items = append(items, textItem{x, y, decode1252(b.String())})
				}
			}
			operand = operand[:0]
			i = j
		}
	}
	return items, nil
}

type pdfStr string

func isDelim(c byte) bool {
	return strings.IndexByte(" \t\r\n()[]<>/%{}", c) >= 0
}

// pdfString reads a literal string starting at s[0] == '(' and returns it and
// the number of bytes consumed.
func pdfString(s []byte) (pdfStr, int, error) {
	var b []byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '(':
			if depth > 0 {
				b = append(b, c)
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				return pdfStr(b), i + 1, nil
			}
			b = append(b, c)
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, fmt.Errorf("truncated escape")
			}
			switch e := s[i]; e {
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case '\n':
			default:
				if e >= '0' && e <= '7' {
					v := 0
					n := 0
					for n < 3 && i < len(s) && s[i] >= '0' && s[i] <= '7' {
						v = v*8 + int(s[i]-'0')
						i++
						n++
					}
					i--
					b = append(b, byte(v))
				} else {
					b = append(b, e)
				}
			}
		default:
			b = append(b, c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// cp1252 maps the bytes 0x80–0x9F that differ from Latin-1.
var cp1252 = map[byte]rune{
	0x80: '€', 0x82: '‚', 0x83: 'ƒ', 0x84: '„', 0x85: '…', 0x86: '†', 0x87: '‡',
	0x88: 'ˆ', 0x89: '‰', 0x8A: 'Š', 0x8B: '‹', 0x8C: 'Œ', 0x8E: 'Ž', 0x91: '‘',
	0x92: '’', 0x93: '“', 0x94: '”', 0x95: '•', 0x96: '–', 0x97: '—', 0x98: '˜',
	0x99: '™', 0x9A: 'š', 0x9B: '›', 0x9C: 'œ', 0x9E: 'ž', 0x9F: 'Ÿ',
}

func decode1252(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if r, ok := cp1252[c]; ok {
			b.WriteRune(r)
		} else {
			b.WriteRune(rune(c)) // ASCII and Latin-1
		}
	}
	return b.String()
}
