import { describe, expect, it } from 'vitest'
import { forTerminal, sanitize, TerminalStream, useColor } from '../../src/cli/_terminal.js'

const ESC = '\u001b'

describe('sanitize', () => {
  it.each([
    ['a CSI that clears the screen', `LoRA${ESC}[2J${ESC}[H saves memory`, 'LoRA saves memory'],
    ['colour (SGR) codes', `${ESC}[31;1mred${ESC}[0m`, 'red'],
    ['an OSC 8 hyperlink, BEL-terminated', `see ${ESC}]8;;https://evil.example/a,b c${'\u0007'}the paper${ESC}]8;;${'\u0007'}`, 'see the paper'],
    ['an OSC 8 hyperlink, ST-terminated', `${ESC}]8;id=1;https://evil.example${ESC}\\click${ESC}]8;;${ESC}\\`, 'click'],
    ['an OSC window title', `${ESC}]0;pwned${'\u0007'}title`, 'title'],
    ['an unterminated OSC (swallows the rest)', `keep ${ESC}]0;pwned and the rest`, 'keep '],
    ['a DCS string', `${ESC}Pq#0;2;0;0;0${ESC}\\after`, 'after'],
    ['8-bit C1 controls (CSI, OSC, NEL)', `a\u009b2Jb\u009d0;t\u0007c\u0085d`, 'abcd'],
    ['a terminal reset and charset switches', `${ESC}cA${ESC}(0B${ESC}7C`, 'ABC'],
    ['C0 controls: BEL, backspace, carriage return, NUL, DEL', 'a\u0007b\bc\rd\u0000e\u007f', 'abcde'],
    ['bidi overrides and isolates', 'abc\u202Egnp.exe\u202C \u2066x\u2069', 'abcgnp.exe x'],
  ])('removes %s', (_name, text, expected) => {
    expect(sanitize(text)).toBe(expected)
  })

  it.each([
    ['newlines and tabs', 'one\ttwo\nthree', 'one\ttwo\nthree'],
    ['CRLF, as a newline', 'one\r\ntwo', 'one\ntwo'],
    ['letters of any script, marks and emoji', 'Ünïcödé — 注意力 עברית 🙂 [1]', 'Ünïcödé — 注意力 עברית 🙂 [1]'],
    ['right-to-left marks (not overrides)', 'a\u200Fb\u200Ec', 'a\u200Fb\u200Ec'],
  ])('keeps %s', (_name, text, expected) => {
    expect(sanitize(text)).toBe(expected)
  })

  it('sanitizes every string of a result, deeply, and leaves other values alone', () => {
    const result = { title: `T${ESC}[2J`, n: 3, url: null, references: [{ quote: `q${ESC}]0;x\u0007`, ok: true }] }
    expect(forTerminal(result)).toEqual({ title: 'T', n: 3, url: null, references: [{ quote: 'q', ok: true }] })
  })
})

describe('TerminalStream', () => {
  it.each([
    ['an ESC at the end of one piece, the rest in the next', ['LoRA ', `${ESC}`, '[2Jsaves'], 'LoRA saves'],
    ['a CSI split in its parameters', ['a', `${ESC}[3`, '1m', 'b'], 'ab'],
    ['an OSC 8 link over four pieces', [`${ESC}]8;;https://ev`, 'il.example', '\u0007link', `${ESC}]8;;\u0007 done`], 'link done'],
    ['a CRLF split after the CR', ['one\r', '\ntwo'], 'one\ntwo'],
    ['plain text', ['Lo', 'RA [1].'], 'LoRA [1].'],
  ])('drops a sequence split across pieces: %s', (_name, pieces, expected) => {
    const stream = new TerminalStream()
    const out = pieces.map((p) => stream.write(p)).join('') + stream.end()
    expect(out).toBe(expected)
  })

  it('prints text at once when nothing is pending', () => {
    const stream = new TerminalStream()
    expect(stream.write('LoRA')).toBe('LoRA')
    expect(stream.write(` saves${ESC}`)).toBe(' saves')
    expect(stream.end()).toBe('')
  })
})

describe('useColor', () => {
  it.each([
    [true, {}, true],
    [true, { NO_COLOR: '1' }, false],
    [true, { NO_COLOR: 'yes' }, false],
    [true, { NO_COLOR: '' }, true],
    [true, { TERM: 'dumb' }, false],
    [false, {}, false],
    [undefined, {}, false],
  ])('isTTY %s with %j: %s', (isTTY, env, expected) => {
    expect(useColor(isTTY === undefined ? {} : { isTTY }, env)).toBe(expected)
  })
})
