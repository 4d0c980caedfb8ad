//! A report as a document: a header and blocks (sections, numbered items, facts, tables,
//! paragraphs, commands), each cell and value in words. The layouts ([`super::layout`]) walk
//! a report once to build its document; the renderers ([`super::text`], [`super::html`]) only
//! format one.
//!
//! A page (HTML) is wider than a terminal and shows more: a column, a row or a block says
//! where it is shown ([`Show`]). Where the two say a thing in different words, the document
//! holds one block for each, each shown in its own medium.

use crate::i18n::Lang;

/// Where a part of a document is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    #[default]
    Everywhere,
    /// In the HTML page only.
    Page,
    /// In the terminal text only.
    Terminal,
}

impl Show {
    pub fn on_page(self) -> bool {
        self != Show::Terminal
    }

    pub fn in_terminal(self) -> bool {
        self != Show::Page
    }
}

/// A run of text with its emphasis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Strong(String),
    /// An identifier or a command.
    Code(String),
    /// No value.
    Missing,
    /// A remark in a muted voice (`nothing to do`).
    Muted(String),
    /// A status as a coloured badge; `open` selects the colour.
    Badge {
        text: String,
        open: bool,
    },
    /// A progress bar, in percent.
    Bar(usize),
}

/// Rich text: inlines in order.
pub type Rich = Vec<Inline>;

pub fn text(s: impl Into<String>) -> Rich {
    vec![Inline::Text(s.into())]
}

/// A value, or [`Inline::Missing`].
pub fn opt(s: Option<&str>) -> Rich {
    vec![s.map_or(Inline::Missing, |s| Inline::Text(s.to_owned()))]
}

/// A whole document, in one language (its words come from that language's catalog; the
/// renderers say the language and add their own few words in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub lang: Lang,
    /// The page's title (the browser tab, the printout).
    pub title: String,
    pub header: Header,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The page's heading.
    pub heading: String,
    /// The line under it on the page.
    pub meta: Option<Rich>,
    /// The heading in a terminal: whole lines, each ending in a newline.
    pub terminal: String,
}

/// A block and where it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub show: Show,
    pub kind: BlockKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A titled part. A terminal shows `terminal_heading` instead (the counts a page puts
    /// elsewhere go into it; none: the part follows the report's heading directly).
    Section {
        heading: String,
        terminal_heading: Option<String>,
        class: Option<&'static str>,
        blocks: Vec<Block>,
    },
    /// One of a numbered list of things to look at, of a kind (`conflict`): its id, status
    /// (`open` selects the colour) and title.
    Item {
        kind: &'static str,
        number: usize,
        id: String,
        status: String,
        open: bool,
        title: String,
        blocks: Vec<Block>,
    },
    /// A sub-heading on the page.
    Subheading(String),
    /// The page's table of contents of the items: (number, title, status).
    Contents(Vec<(usize, String, String)>),
    /// Labelled values, one a line.
    Facts(Vec<Fact>),
    Table(Table),
    /// A labelled remark: a sub-heading and a paragraph on a page, `label: body` in a
    /// terminal.
    Note {
        label: String,
        body: Rich,
        class: Option<&'static str>,
    },
    Para {
        body: Rich,
        class: Option<&'static str>,
    },
    /// Commands to run, each with what it does.
    Commands {
        label: String,
        commands: Vec<(String, String)>,
    },
    /// Short entries of a few lines each, for a terminal: a head line and indented lines.
    Entries(Vec<(String, Vec<String>)>),
}

impl Block {
    pub fn new(kind: BlockKind) -> Block {
        Block {
            show: Show::Everywhere,
            kind,
        }
    }

    pub fn on_page(kind: BlockKind) -> Block {
        Block {
            show: Show::Page,
            kind,
        }
    }

    pub fn in_terminal(kind: BlockKind) -> Block {
        Block {
            show: Show::Terminal,
            kind,
        }
    }

    /// A paragraph, shown where `show` says.
    pub fn para(show: Show, body: Rich, class: Option<&'static str>) -> Block {
        Block {
            show,
            kind: BlockKind::Para { body, class },
        }
    }
}

/// A label and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub show: Show,
    pub label: String,
    pub value: Rich,
}

impl Fact {
    pub fn new(label: &str, value: Rich) -> Fact {
        Fact {
            show: Show::Everywhere,
            label: label.to_owned(),
            value,
        }
    }

    pub fn shown(mut self, show: Show) -> Fact {
        self.show = show;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers.
    Right,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub show: Show,
    pub label: Rich,
    pub align: Align,
    /// How the page styles the column's cells (`t` for times, `value`).
    pub class: Option<&'static str>,
}

impl Column {
    pub fn new(label: &str) -> Column {
        Column {
            show: Show::Everywhere,
            label: text(label),
            align: Align::Left,
            class: None,
        }
    }

    pub fn right(mut self) -> Column {
        self.align = Align::Right;
        self
    }

    pub fn class(mut self, class: &'static str) -> Column {
        self.class = Some(class);
        self
    }

    pub fn shown(mut self, show: Show) -> Column {
        self.show = show;
        self
    }
}

/// A cell; `class` styles it on the page (`differ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub value: Rich,
    pub class: Option<&'static str>,
}

impl From<Rich> for Cell {
    fn from(value: Rich) -> Cell {
        Cell { value, class: None }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::from(text(s))
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::from(text(s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// How the page styles the row (`shown`, `match`).
    pub class: Option<&'static str>,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row { cells, class: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// A totals row, on the page.
    pub foot: Option<Row>,
    /// The first cell of each row labels it.
    pub row_labels: bool,
    pub class: Option<&'static str>,
}

impl Table {
    pub fn new(columns: Vec<Column>, rows: Vec<Row>) -> Table {
        Table {
            columns,
            rows,
            foot: None,
            row_labels: false,
            class: None,
        }
    }

    pub fn class(mut self, class: &'static str) -> Table {
        self.class = Some(class);
        self
    }
}
