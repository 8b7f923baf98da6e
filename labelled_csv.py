"""Reading a table of your own for pima_binary.py and new_rows.py: a CSV of numeric features with
a label in its last column, any two labels (0/1, yes/no, M/R...). Each mistake in the file is
named in one line (a UserError): the line and column of a bad cell, a short row, a third label,
missing values, a text column.

    features, labels, classes = read_labelled_csv("my_table.csv")
"""

import csv
import io
import re
import shlex
from pathlib import Path

import numpy as np

from tutorial_helpers import FORMULA_MARKS, UserError, is_number, one_line, setting

MIN_ROWS = 10
MIN_CLASS_ROWS = 5  # of each label: a fifth held out to test on, the rest to train on
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}  # a missing value, not a name
LARGEST_VALUE = 1e18  # the network computes in 32-bit floats, whose squares overflow at 1.8e19


YES_WORDS = {"yes", "y", "true", "t", "positive", "pos"}  # a label holding one is class 1
SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}
THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?")  # 13.200, 1.234,5; not 0.627
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP: CSV injection).


def read_labelled_csv(path, positive=None, drop_missing=False):
    """Features, 0/1 labels, and the file's own labels of class 0 and class 1, from a CSV with
    numeric features and any two labels in the last column; a UserError names what is wrong."""
    return read_labelled_rows(path, positive, drop_missing)[:3]


def read_labelled_rows(path, positive=None, drop_missing=False):
    """read_labelled_csv's three, and the number of each row kept among the file's data rows,
    from 0: with drop_missing, the rows left out leave gaps."""
    header, rows, line_numbers, separator = read_cells(path)
    n_features = len(rows[0]) - 1 if rows else 0
    features, kept = feature_table(
        path, header, rows, line_numbers, n_features, drop_missing, separator
    )
    if len(kept) < MIN_ROWS or n_features < 1:
        raise UserError(
            f"{path} has {len(kept)} data rows" + " left" * (len(kept) < len(rows)) + f"; it "
            f"needs at least {MIN_ROWS}, each with one or more numeric features and a label in "
            "the last column"
        )
    labels, classes = label_classes(
        path, [rows[i][-1] for i in kept], [line_numbers[i] for i in kept], positive
    )
    return features, labels, classes, np.asarray(kept)


def read_cells(path):
    """(header or None, rows of cells as text, line number of each row, separator) from a CSV
    file: commas, as the article's files have them; or semicolons, maybe with decimal commas; or
    tabs. A cell may be quoted ("6" or '6')."""
    text = read_text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    separator = next((mark for mark in ";\t," if mark in first), ",")
    csv.field_size_limit(len(text) + 1)  # a cell as long as the file is reported, not refused
    # The csv module reads the whole text, so that a quoted cell may hold a line break; the
    # line number of a row is that of its first line.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    lines, number = [], 1
    for cells in reader:
        if reader.line_num > number:  # the row went on over a line break, in a quoted cell
            cell = next((cell for cell in cells if "\n" in cell or "\r" in cell), "")
            raise UserError(
                f"{path} line {number}: a cell holds a line break ({one_line(repr(cell), 40)}); "
                "join its lines, or close the quote opening it"
            )
        if any(cell.strip() for cell in cells):
            lines.append((number, [unquoted(cell) for cell in cells]))
        number = reader.line_num + 1
    if separator == ";":
        lines = decimal_commas(path, lines)
    header = None
    if lines and is_header(path, lines[0][0], lines[0][1], [cells for _, cells in lines[1:]]):
        header, lines = lines[0][1], lines[1:]
    if header and lines and len(header) != len(lines[0][1]):
        raise UserError(
            f"{path}: the header row names {len(header)} columns, but the rows "
            f"have {len(lines[0][1])}"
        )
    for number, cells in lines:
        if len(cells) != len(lines[0][1]):
            earlier = len(lines[0][1])
            raise UserError(
                f"{path} line {number}: {len(cells)} columns, but earlier rows have {earlier}"
            )
    return header, [cells for _, cells in lines], [number for number, _ in lines], separator


def read_text(path):
    """The text of the file at path: UTF-8 (with Excel's byte-order mark or without) or UTF-16."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; check the path")
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; pass a CSV file")
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror})")
    if data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        raise UserError(
            f"{path} is compressed (gzip or zip); decompress it and pass the CSV inside"
        )
    # Spreadsheets save "Unicode text" as UTF-16: two bytes a character, a byte-order mark
    # first. Without the mark, plain letters and digits show as every other byte zero.
    encoding = "UTF-8-sig"  # -sig: Excel's "CSV UTF-8" starts with a byte-order mark
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "UTF-16"
    elif data and len(data) % 2 == 0 and not any(data[1::2]) and all(data[::2]):
        encoding = "UTF-16-LE"
    elif data and len(data) % 2 == 0 and not any(data[::2]) and all(data[1::2]):
        encoding = "UTF-16-BE"
    not_text = f"{path} is not a text file; pass a CSV file (numbers separated by commas)"
    if encoding == "UTF-8-sig" and b"\0" in data:
        raise UserError(not_text)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        name = "UTF-16" if encoding.startswith("UTF-16") else "UTF-8"
        raise UserError(
            f"{path} is not {name} text (byte {data[error.start]:#x} at offset "
            f"{error.start}); save or convert it as UTF-8 and try again"
        )
    if "\0" in text:  # UTF-32, say, read as UTF-16
        raise UserError(not_text)
    return text


def decimal_commas(path, lines):
    """The lines of a semicolon file, each number with a decimal point. Where some number has a
    decimal comma (33,6), a dot groups thousands: 13.200 is 13200, 1.234,5 is 1234.5; a dot
    that groups none (13.2, 0.627) is refused, not guessed. Else dots are decimal points."""
    commas = (
        (cell, number)
        for number, cells in lines
        for cell in cells
        if "," in cell and is_number(comma_number(cell))
    )
    example, where = next(commas, (None, None))
    if example is None:
        return lines
    for number, cells in lines:
        for column, cell in enumerate(cells, 1):
            if "." in cell and is_number(cell) and not THOUSANDS.fullmatch(cell):
                raise UserError(
                    f"{path} line {number}, column {column}: {cell!r} is ambiguous: the file "
                    f"writes decimal commas ({example!r} on line {where}), where a dot groups "
                    f"thousands (1.234,5), yet this dot does not; write {cell.replace('.', ',')} "
                    "if it is a decimal point"
                )
    return [(number, [comma_number(cell) for cell in cells]) for number, cells in lines]


def comma_number(cell):
    """The cell with a decimal point where it has a decimal comma: 1.234,5 is 1234.5, 33,6 is
    33.6; a cell that is no such number, as it is."""
    number = cell.replace(".", "") if THOUSANDS.fullmatch(cell) else cell
    return number.replace(",", ".") if is_number(number.replace(",", ".")) else cell


def is_header(path, line, first, rest):
    """True if the first row names the columns: none of its cells is a number or a missing
    value, or one is text where every later row has a number, in a column before the last (the
    last may hold labels: a stray word there is a label). A header that holds numbers
    (age,2019,2020,outcome) is said in a line naming its cells: it may be a row with a typo."""
    words = [not is_number(cell) and cell.lower() not in MISSING for cell in first]
    if all(words):
        return True
    for column, cell in enumerate(first[:-1]):
        below = (column < len(row) and is_number(row[column]) for row in rest)
        if words[column] and rest and all(below):
            if any(map(is_number, first)):
                print(
                    f"{path} line {line} is taken as the header "
                    f"({one_line(', '.join(first), 200)}); if it is a row of data, make its "
                    f"cell {cell!r} a number"
                )
            return True
    return False


def unquoted(cell):
    """The cell without the spaces and the one pair of quotes around it: ' "R"' is R; and
    without the ' that shows a formula as text in a spreadsheet: '=1+1 is =1+1."""
    cell = cell.strip()
    if len(cell) > 1 and cell[0] == cell[-1] and cell[0] in "'\"":
        cell = cell[1:-1].strip()
    if cell.startswith("'") and cell[1:].startswith(FORMULA_MARKS):
        cell = cell[1:]
    return cell


def feature_table(path, header, rows, line_numbers, n_features, drop_missing=None, separator=","):
    """float64 features from the first n_features columns, and the indices of the rows kept.

    A text column, a cell that is no number, or a missing value (?, NA, empty: in the label
    column too) is named in one line; drop_missing=True leaves the rows with a missing value
    out and says so. None: there is no --drop-missing (--predict), the fix named is the user's.
    separator: the file's, named in the advice for a cell that is no number.
    """

    def column_name(column):  # 0-based
        label = " (the label)" * (column == n_features and not header)
        return f"{column + 1}" + (f" ({header[column]})" if header and header[column] else label)

    gaps = [[cell.lower() in MISSING for cell in cells] for cells in rows]
    text_columns = []
    for column in range(n_features):
        cells = [cells[column] for cells, gap in zip(rows, gaps) if not gap[column]]
        # A number with a decimal comma in a file of tabs or commas is no text: named below.
        words = [
            cell for cell in cells if not is_number(cell) and not is_number(comma_number(cell))
        ]
        if len(words) > len(cells) / 2:  # text in a few cells only: typos, named below
            text_columns.append((column, list(dict.fromkeys(words))))
    if text_columns:
        column, words = text_columns[0]
        shown = ", ".join(repr(one_line(word, 20)) for word in words[:3])
        others = [column_name(other) for other, _ in text_columns[1:]]
        also = ", ".join(others[:5]) + " and more" * (len(others) > 5)
        also = f", as do columns {also}" if len(others) > 1 else f", as does column {also}"
        raise UserError(
            f"{path}: column {column_name(column)} holds text, not numbers ({shown}"
            + ", ..." * (len(words) > 3)
            + ")"
            + also * bool(others)
            + "; the network reads numbers only: encode each text column as numbers first, "
            "e.g. one 0/1 column per category"
        )
    for cells, gap, number in zip(rows, gaps, line_numbers):
        for column, cell in enumerate(cells[:n_features], 1):
            if gap[column - 1]:
                continue
            if not is_number(cell):
                fix = f"the file must hold numbers separated by {SEPARATORS[separator]}"
                if is_number(comma_number(cell)):  # 33,6 in a file of commas or tabs
                    fix = "decimal commas are read only in a file separated by semicolons: save "
                    fix += f"it so (CSV with semicolons), or write {comma_number(cell)}"
                raise UserError(
                    f"{path} line {number}, column {column}: {one_line(cell, 40)!r} is not "
                    f"a number; {fix}"
                )
            if abs(float(cell)) > LARGEST_VALUE:
                raise UserError(
                    f"{path} line {number}, column {column}: {float(cell):g} is too large; values "
                    f"must lie within ±{LARGEST_VALUE:g}, as the network computes in 32-bit floats"
                )
    holed = [row for row, gap in enumerate(gaps) if any(gap)]
    kept = [row for row, gap in enumerate(gaps) if not any(gap)]
    if holed:
        columns = sorted({column for row in holed for column, gap in enumerate(gaps[row]) if gap})
        named = ", ".join(map(column_name, columns[:6])) + " and more" * (len(columns) > 6)
        where = f"column{'s' * (len(columns) > 1)} {named}"
        if drop_missing and len(kept) < MIN_ROWS <= len(rows):  # name the columns to leave out
            counts = {column: sum(gap[column] for gap in gaps) for column in columns}
            most = sorted(columns, key=counts.get, reverse=True)[:3]
            raise UserError(
                f"{path}: {setting('drop_missing')} leaves {len(kept)} of {len(rows)} rows, "
                f"those without a missing value; training needs at least {MIN_ROWS}; the most "
                f"gaps are in column{'s' * (len(most) > 1)} "
                + ", ".join(f"{column_name(column)}: {counts[column]} rows" for column in most)
                + ": leave such columns out of the file, or fill their cells in"
            )
        if drop_missing:
            print(
                f"{setting('drop_missing')}: left out {len(holed)} of {len(rows)} rows, those with "
                f"a missing value (in {where}); {len(kept)} rows remain"
            )
        else:
            first = holed[0]
            fix = (
                f"pass {setting('drop_missing')} to leave those rows out, or fill the cells in"
                if drop_missing is False
                else "fill the cells in, or leave those rows out"
            )
            raise UserError(
                f"{path}: {len(holed)} of {len(rows)} rows hold a missing value (?, NA, an empty "
                f"cell...) in {where}, the first at line {line_numbers[first]}, column "
                f"{gaps[first].index(True) + 1}; {fix}: this script never guesses a value"
            )
    table = [[float(cell) for cell in rows[row][:n_features]] for row in kept]
    return np.array(table, dtype="float64").reshape(len(kept), n_features), kept


def stratified_folds(labels, k):
    """Each row's fold, 0 to k-1, dealt in turn within each class: each spread over the folds."""
    folds = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        folds[rows] = np.arange(len(rows)) % k
    return folds


def label_key(cell):
    """What makes two labels the same: the number for numbers (1 and 1.0), else the text."""
    return float(cell) if is_number(cell) else cell


def label_text(key):
    return f"{key:.15g}" if isinstance(key, float) else key


def label_classes(path, cells, line_numbers, positive=None):
    """0/1 classes (float64) for two labels as the file writes them, and the two labels, class
    0's first. Prints the rule that chose which is class 1."""
    keys = [label_key(cell) for cell in cells]
    kinds = list(dict.fromkeys(keys))  # in the order they first appear
    if len(kinds) == 1:
        raise UserError(
            f"{path}: every label is {label_text(kinds[0])} (the last column); the data needs "
            "rows of two classes, such as 0 and 1"
        )
    if len(kinds) > 2:  # where the rarest stand: a stray label, a typo, is among them
        counts = [keys.count(key) for key in kinds]
        rarest = [key for key, count in zip(kinds, counts) if count == min(counts)]
        where = []
        for key in rarest[:3]:
            lines = [line for line, other in zip(line_numbers, keys) if other == key]
            shown = ", ".join(map(str, lines[:5])) + ", ..." * (len(lines) > 5)
            where.append(f"{label_text(key)} at line{'s' * (len(lines) > 1)} {shown}")
        listed = ", ".join(map(label_text, kinds[:6])) + ", ..." * (len(kinds) > 6)
        raise UserError(
            f"{path}: the label (last column) takes {len(kinds)} different values ({listed}; "
            f"the rarest: {', '.join(where)}" + ", ..." * (len(rarest) > 3) + "); this script "
            "learns two classes: keep the rows of two labels, or merge the labels into two"
        )
    counts = [keys.count(key) for key in kinds]
    if min(counts) < MIN_CLASS_ROWS:  # else a class held out whole, or never trained on
        rare = kinds[counts.index(min(counts))]
        lines = [str(line) for line, key in zip(line_numbers, keys) if key == rare]
        raise UserError(
            f"{path}: label {label_text(rare)} has only {min(counts)} "
            f"row{'s' * (min(counts) > 1)} (line{'s' * (len(lines) > 1)} {', '.join(lines)}); "
            f"each label needs at least {MIN_CLASS_ROWS}, a fifth of them held out to test on "
            "and the rest to train on: add rows of it"
        )
    if positive is not None:
        one = label_key(unquoted(positive))
        if one not in kinds:
            raise UserError(
                f"{path}: {setting('positive')} {positive} is not one of its labels, "
                f"{label_text(kinds[0])} and {label_text(kinds[1])}"
            )
        rule = f"as {setting('positive')} chose"
    elif all(isinstance(key, float) for key in kinds):  # 0 and 1 keep their meaning
        one = max(kinds)
        rule = "as written" if set(kinds) == {0, 1} else "the larger number is class 1"
    else:
        says_yes = [
            key for key in kinds if YES_WORDS & set(re.split("[^a-z]+", label_text(key).lower()))
        ]
        counts = [keys.count(key) for key in kinds]
        if len(says_yes) == 1:
            one, rule = says_yes[0], "a label saying yes, true or positive is class 1"
        elif counts[0] != counts[1]:
            one, rule = kinds[counts.index(min(counts))], "the rarer label is class 1"
        else:
            one = max(kinds, key=label_text)
            rule = "as common as each other, the later in alphabetical order is class 1"
    zero = kinds[1 - kinds.index(one)]
    print(
        f"Label {label_text(one)} is class 1, {label_text(zero)} is class 0: {rule}"
        + f" ({setting('positive')} {shlex.quote(label_text(zero))} swaps them)"
        * (positive is None)
    )
    labels = np.array([float(key == one) for key in keys], dtype="float64")
    return labels, [label_text(zero), label_text(one)]
