//! Built-in tables that simulated orders draw from: people, addresses, notes and products.
//!
//! Prices are in fen (1 yuan = 100 fen). Each postcode is a plausible code for its city area,
//! good enough for a simulator but not checked for a real shipping label.

/// A product listed in the simulated shop, with its sellable SKUs.
#[derive(Debug)]
pub struct Product {
    pub num_iid: u64,
    pub outer_iid: &'static str,
    pub title: &'static str,
    pub skus: &'static [Sku],
}

/// One sellable variant of a product.
#[derive(Debug)]
pub struct Sku {
    pub sku_id: u64,
    pub outer_sku_id: &'static str,
    /// TOP `sku_properties_name`: `name:value` pairs separated by `;`.
    pub properties_name: &'static str,
    pub price_fen: i64,
}

/// A receiver region: province, city, district and postcode.
#[derive(Debug)]
pub struct Region {
    pub state: &'static str,
    pub city: &'static str,
    pub district: &'static str,
    pub zip: &'static str,
    /// Streets in that district, used to build the street address.
    pub streets: &'static [&'static str],
}

pub const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "欧阳",
    "司马",
];

pub const GIVEN_NAMES: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "子涵", "欣怡", "浩然", "梓萱", "宇轩",
    "雨桐", "俊杰", "思远", "佳琪", "建国", "晓燕", "文博", "一鸣",
];

/// First halves of buyer nicks (`NICK_HEADS[i]` + `NICK_TAILS[j]`, sometimes with digits).
pub const NICK_HEADS: &[&str] = &[
    "爱喝茶的",
    "快乐的",
    "安静的",
    "追风的",
    "早起的",
    "会飞的",
    "吃不胖的",
    "宅家的",
    "路过的",
    "认真的",
    "小小",
    "阿",
    "大大的",
    "爱旅行的",
];

pub const NICK_TAILS: &[&str] = &[
    "小猫", "老王", "兔子", "土豆", "阿明", "橙子", "鲸鱼", "小鹿", "团子", "饺子", "熊猫", "星星",
    "木木", "豆豆",
];

/// Two-digit mobile prefixes after the leading `1`, from the ranges Chinese carriers assign.
pub const MOBILE_PREFIXES: &[&str] = &[
    "30", "31", "32", "33", "35", "36", "37", "38", "39", "50", "51", "52", "55", "56", "57", "58",
    "59", "66", "77", "80", "81", "82", "86", "87", "88", "89", "98", "99",
];

pub const BUYER_MESSAGES: &[&str] = &[
    "请尽快发货",
    "不要放快递柜",
    "发顺丰",
    "送人的，请不要放价格单",
    "周末家里没人，请工作日送达",
    "麻烦包装结实一点，谢谢",
    "到了请先打电话",
    "请帮忙开发票，抬头见聊天记录",
];

pub const SELLER_MEMOS: &[&str] = &[
    "老客户，送小样",
    "已电话确认地址",
    "优先发货",
    "补发赠品一份",
    "买家要求改发中通",
];

/// Building parts appended after the street number.
pub const COMPOUNDS: &[&str] = &[
    "阳光小区",
    "金色家园",
    "翠苑",
    "科技大厦",
    "锦绣花园",
    "世纪新城",
    "滨江公寓",
    "和平里",
];

pub const REGIONS: &[Region] = &[
    Region {
        state: "浙江省",
        city: "杭州市",
        district: "西湖区",
        zip: "310013",
        streets: &["文三路", "文一西路", "天目山路"],
    },
    Region {
        state: "浙江省",
        city: "杭州市",
        district: "余杭区",
        zip: "311100",
        streets: &["文一西路", "五常大道"],
    },
    Region {
        state: "浙江省",
        city: "宁波市",
        district: "鄞州区",
        zip: "315100",
        streets: &["天童南路", "宁南北路"],
    },
    Region {
        state: "广东省",
        city: "深圳市",
        district: "南山区",
        zip: "518052",
        streets: &["科技园南路", "深南大道", "南海大道"],
    },
    Region {
        state: "广东省",
        city: "广州市",
        district: "天河区",
        zip: "510630",
        streets: &["天河路", "体育西路", "黄埔大道"],
    },
    Region {
        state: "北京",
        city: "北京市",
        district: "朝阳区",
        zip: "100020",
        streets: &["建国路", "朝阳北路", "望京街"],
    },
    Region {
        state: "北京",
        city: "北京市",
        district: "海淀区",
        zip: "100080",
        streets: &["中关村大街", "学院路"],
    },
    Region {
        state: "上海",
        city: "上海市",
        district: "浦东新区",
        zip: "200120",
        streets: &["世纪大道", "张杨路", "东方路"],
    },
    Region {
        state: "上海",
        city: "上海市",
        district: "徐汇区",
        zip: "200030",
        streets: &["漕溪北路", "肇嘉浜路"],
    },
    Region {
        state: "江苏省",
        city: "南京市",
        district: "鼓楼区",
        zip: "210009",
        streets: &["中山北路", "湖南路"],
    },
    Region {
        state: "江苏省",
        city: "苏州市",
        district: "姑苏区",
        zip: "215000",
        streets: &["人民路", "干将西路"],
    },
    Region {
        state: "四川省",
        city: "成都市",
        district: "武侯区",
        zip: "610041",
        streets: &["人民南路", "科华北路"],
    },
    Region {
        state: "湖北省",
        city: "武汉市",
        district: "洪山区",
        zip: "430070",
        streets: &["珞喻路", "雄楚大道"],
    },
    Region {
        state: "福建省",
        city: "厦门市",
        district: "思明区",
        zip: "361001",
        streets: &["中山路", "湖滨南路"],
    },
    Region {
        state: "山东省",
        city: "青岛市",
        district: "市南区",
        zip: "266001",
        streets: &["香港中路", "中山路"],
    },
    Region {
        state: "河南省",
        city: "郑州市",
        district: "金水区",
        zip: "450000",
        streets: &["花园路", "经三路"],
    },
    Region {
        state: "陕西省",
        city: "西安市",
        district: "雁塔区",
        zip: "710061",
        streets: &["长安南路", "小寨东路"],
    },
    Region {
        state: "湖南省",
        city: "长沙市",
        district: "岳麓区",
        zip: "410006",
        streets: &["麓山南路", "枫林一路"],
    },
    Region {
        state: "黑龙江省",
        city: "哈尔滨市",
        district: "南岗区",
        zip: "150001",
        streets: &["西大直街", "红军街"],
    },
    Region {
        state: "云南省",
        city: "昆明市",
        district: "五华区",
        zip: "650021",
        streets: &["人民中路", "东风西路"],
    },
    Region {
        state: "广西壮族自治区",
        city: "南宁市",
        district: "青秀区",
        zip: "530022",
        streets: &["民族大道", "东葛路"],
    },
    Region {
        state: "海南省",
        city: "三亚市",
        district: "吉阳区",
        zip: "572000",
        streets: &["迎宾路", "榆亚路"],
    },
    Region {
        state: "内蒙古自治区",
        city: "呼和浩特市",
        district: "新城区",
        zip: "010010",
        streets: &["新华大街", "兴安北路"],
    },
    Region {
        state: "宁夏回族自治区",
        city: "银川市",
        district: "兴庆区",
        zip: "750001",
        streets: &["解放西街", "文化东街"],
    },
    Region {
        state: "青海省",
        city: "西宁市",
        district: "城中区",
        zip: "810000",
        streets: &["南大街", "长江路"],
    },
    Region {
        state: "新疆维吾尔自治区",
        city: "乌鲁木齐市",
        district: "天山区",
        zip: "830000",
        streets: &["解放南路", "中山路"],
    },
    Region {
        state: "西藏自治区",
        city: "拉萨市",
        district: "城关区",
        zip: "850000",
        streets: &["北京中路", "江苏路"],
    },
];

/// Everyday products. Every SKU costs at most 499.00 yuan.
pub const EVERYDAY_PRODUCTS: &[Product] = &[
    Product {
        num_iid: 600_100_000_001,
        outer_iid: "TEA-LJ",
        title: "西湖龙井 明前特级 绿茶 春茶",
        skus: &[
            Sku {
                sku_id: 5_001_000_011,
                outer_sku_id: "TEA-LJ-250G",
                properties_name: "规格:250g",
                price_fen: 12_800,
            },
            Sku {
                sku_id: 5_001_000_012,
                outer_sku_id: "TEA-LJ-500G",
                properties_name: "规格:500g",
                price_fen: 23_800,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_002,
        outer_iid: "TEA-PE",
        title: "云南普洱 熟茶饼 357g",
        skus: &[
            Sku {
                sku_id: 5_001_000_021,
                outer_sku_id: "TEA-PE-2018",
                properties_name: "年份:2018年",
                price_fen: 16_800,
            },
            Sku {
                sku_id: 5_001_000_022,
                outer_sku_id: "TEA-PE-2012",
                properties_name: "年份:2012年",
                price_fen: 39_800,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_003,
        outer_iid: "TEA-TGY",
        title: "安溪铁观音 浓香型 乌龙茶",
        skus: &[
            Sku {
                sku_id: 5_001_000_031,
                outer_sku_id: "TEA-TGY-125G",
                properties_name: "规格:125g",
                price_fen: 5_900,
            },
            Sku {
                sku_id: 5_001_000_032,
                outer_sku_id: "TEA-TGY-250G",
                properties_name: "规格:250g",
                price_fen: 10_800,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_004,
        outer_iid: "CUP-QH",
        title: "景德镇青花瓷 茶具套装",
        skus: &[
            Sku {
                sku_id: 5_001_000_041,
                outer_sku_id: "CUP-QH-6",
                properties_name: "套装:一壶六杯",
                price_fen: 29_900,
            },
            Sku {
                sku_id: 5_001_000_042,
                outer_sku_id: "CUP-QH-4",
                properties_name: "套装:一壶四杯",
                price_fen: 19_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_005,
        outer_iid: "CUP-BW",
        title: "316不锈钢 保温杯 大容量",
        skus: &[
            Sku {
                sku_id: 5_001_000_051,
                outer_sku_id: "CUP-BW-BK-500",
                properties_name: "颜色:黑色;容量:500ml",
                price_fen: 7_900,
            },
            Sku {
                sku_id: 5_001_000_052,
                outer_sku_id: "CUP-BW-WH-500",
                properties_name: "颜色:白色;容量:500ml",
                price_fen: 7_900,
            },
            Sku {
                sku_id: 5_001_000_053,
                outer_sku_id: "CUP-BW-BK-1000",
                properties_name: "颜色:黑色;容量:1000ml",
                price_fen: 9_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_006,
        outer_iid: "RICE-WC",
        title: "五常大米 稻花香 当季新米",
        skus: &[
            Sku {
                sku_id: 5_001_000_061,
                outer_sku_id: "RICE-WC-5KG",
                properties_name: "规格:5kg",
                price_fen: 8_900,
            },
            Sku {
                sku_id: 5_001_000_062,
                outer_sku_id: "RICE-WC-10KG",
                properties_name: "规格:10kg",
                price_fen: 16_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_007,
        outer_iid: "FOOD-MR",
        title: "东北 黑木耳 干货",
        skus: &[
            Sku {
                sku_id: 5_001_000_071,
                outer_sku_id: "FOOD-MR-250G",
                properties_name: "规格:250g",
                price_fen: 3_990,
            },
            Sku {
                sku_id: 5_001_000_072,
                outer_sku_id: "FOOD-MR-500G",
                properties_name: "规格:500g",
                price_fen: 6_990,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_008,
        outer_iid: "FOOD-GQ",
        title: "宁夏中宁 头茬枸杞",
        skus: &[
            Sku {
                sku_id: 5_001_000_081,
                outer_sku_id: "FOOD-GQ-250G",
                properties_name: "规格:250g",
                price_fen: 2_990,
            },
            Sku {
                sku_id: 5_001_000_082,
                outer_sku_id: "FOOD-GQ-500G",
                properties_name: "规格:500g",
                price_fen: 4_990,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_009,
        outer_iid: "FOOD-DZ",
        title: "新疆和田 大枣 特级",
        skus: &[
            Sku {
                sku_id: 5_001_000_091,
                outer_sku_id: "FOOD-DZ-1KG",
                properties_name: "规格:1kg",
                price_fen: 4_500,
            },
            Sku {
                sku_id: 5_001_000_092,
                outer_sku_id: "FOOD-DZ-2500G",
                properties_name: "规格:2.5kg",
                price_fen: 9_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_010,
        outer_iid: "BED-MJ",
        title: "全棉 床上四件套 简约纯色",
        skus: &[
            Sku {
                sku_id: 5_001_000_101,
                outer_sku_id: "BED-MJ-150-BEIGE",
                properties_name: "尺寸:1.5m床;颜色:米白",
                price_fen: 32_900,
            },
            Sku {
                sku_id: 5_001_000_102,
                outer_sku_id: "BED-MJ-180-BEIGE",
                properties_name: "尺寸:1.8m床;颜色:米白",
                price_fen: 35_900,
            },
            Sku {
                sku_id: 5_001_000_103,
                outer_sku_id: "BED-MJ-180-GREY",
                properties_name: "尺寸:1.8m床;颜色:浅灰",
                price_fen: 35_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_011,
        outer_iid: "EL-EAR",
        title: "真无线 蓝牙耳机 降噪",
        skus: &[
            Sku {
                sku_id: 5_001_000_111,
                outer_sku_id: "EL-EAR-WH",
                properties_name: "颜色:白色",
                price_fen: 19_900,
            },
            Sku {
                sku_id: 5_001_000_112,
                outer_sku_id: "EL-EAR-BK",
                properties_name: "颜色:黑色",
                price_fen: 19_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_012,
        outer_iid: "EL-KB",
        title: "机械键盘 87键 有线",
        skus: &[
            Sku {
                sku_id: 5_001_000_121,
                outer_sku_id: "EL-KB-RED",
                properties_name: "轴体:红轴",
                price_fen: 32_900,
            },
            Sku {
                sku_id: 5_001_000_122,
                outer_sku_id: "EL-KB-BLUE",
                properties_name: "轴体:青轴",
                price_fen: 32_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_013,
        outer_iid: "CLO-WJ",
        title: "羊绒围巾 女 秋冬 纯色",
        skus: &[
            Sku {
                sku_id: 5_001_000_131,
                outer_sku_id: "CLO-WJ-CAMEL",
                properties_name: "颜色:驼色",
                price_fen: 35_900,
            },
            Sku {
                sku_id: 5_001_000_132,
                outer_sku_id: "CLO-WJ-GREY",
                properties_name: "颜色:烟灰",
                price_fen: 35_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_014,
        outer_iid: "CLO-TX",
        title: "男士 纯棉短袖T恤 圆领",
        skus: &[
            Sku {
                sku_id: 5_001_000_141,
                outer_sku_id: "CLO-TX-WH-L",
                properties_name: "颜色:白色;尺码:L",
                price_fen: 6_900,
            },
            Sku {
                sku_id: 5_001_000_142,
                outer_sku_id: "CLO-TX-WH-XL",
                properties_name: "颜色:白色;尺码:XL",
                price_fen: 6_900,
            },
            Sku {
                sku_id: 5_001_000_143,
                outer_sku_id: "CLO-TX-BK-L",
                properties_name: "颜色:黑色;尺码:L",
                price_fen: 6_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_015,
        outer_iid: "SHOE-PB",
        title: "轻量缓震 跑步鞋 男女同款",
        skus: &[
            Sku {
                sku_id: 5_001_000_151,
                outer_sku_id: "SHOE-PB-40",
                properties_name: "尺码:40",
                price_fen: 45_900,
            },
            Sku {
                sku_id: 5_001_000_152,
                outer_sku_id: "SHOE-PB-42",
                properties_name: "尺码:42",
                price_fen: 45_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_016,
        outer_iid: "HOME-ZJ",
        title: "家用 抽纸 原木浆 整箱",
        skus: &[
            Sku {
                sku_id: 5_001_000_161,
                outer_sku_id: "HOME-ZJ-24",
                properties_name: "规格:24包",
                price_fen: 3_990,
            },
            Sku {
                sku_id: 5_001_000_162,
                outer_sku_id: "HOME-ZJ-36",
                properties_name: "规格:36包",
                price_fen: 5_490,
            },
        ],
    },
];

/// Expensive products: every SKU costs more than 2,000.00 yuan, so one unit makes a large order.
pub const EXPENSIVE_PRODUCTS: &[Product] = &[
    Product {
        num_iid: 600_100_000_101,
        outer_iid: "POT-ZS",
        title: "宜兴紫砂壶 全手工 原矿朱泥 大师款",
        skus: &[
            Sku {
                sku_id: 5_001_001_011,
                outer_sku_id: "POT-ZS-200ML",
                properties_name: "容量:200ml",
                price_fen: 268_000,
            },
            Sku {
                sku_id: 5_001_001_012,
                outer_sku_id: "POT-ZS-300ML",
                properties_name: "容量:300ml",
                price_fen: 328_000,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_102,
        outer_iid: "EL-ROBOT",
        title: "扫地机器人 扫拖一体 自动集尘",
        skus: &[
            Sku {
                sku_id: 5_001_001_021,
                outer_sku_id: "EL-ROBOT-STD",
                properties_name: "型号:标准版",
                price_fen: 259_900,
            },
            Sku {
                sku_id: 5_001_001_022,
                outer_sku_id: "EL-ROBOT-PRO",
                properties_name: "型号:自动集尘版",
                price_fen: 329_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_103,
        outer_iid: "CAM-DSLR",
        title: "全画幅 微单相机 4K视频",
        skus: &[
            Sku {
                sku_id: 5_001_001_031,
                outer_sku_id: "CAM-DSLR-BODY",
                properties_name: "套餐:单机身",
                price_fen: 689_900,
            },
            Sku {
                sku_id: 5_001_001_032,
                outer_sku_id: "CAM-DSLR-KIT",
                properties_name: "套餐:24-70mm镜头套机",
                price_fen: 769_900,
            },
        ],
    },
    Product {
        num_iid: 600_100_000_104,
        outer_iid: "BED-CS",
        title: "桑蚕丝被 100%蚕丝 冬被",
        skus: &[Sku {
            sku_id: 5_001_001_041,
            outer_sku_id: "BED-CS-6J",
            properties_name: "重量:6斤;尺寸:200x230cm",
            price_fen: 238_000,
        }],
    },
];

/// Finds a product by `num_iid` in either product table.
pub fn product_by_num_iid(num_iid: u64) -> Option<&'static Product> {
    EVERYDAY_PRODUCTS
        .iter()
        .chain(EXPENSIVE_PRODUCTS)
        .find(|product| product.num_iid == num_iid)
}

/// Returns every product of the shop: the everyday table, then the expensive one.
pub fn products() -> impl Iterator<Item = &'static Product> {
    EVERYDAY_PRODUCTS.iter().chain(EXPENSIVE_PRODUCTS)
}

/// Returns every SKU of the shop with its product, in [`products`] order.
pub fn skus() -> impl Iterator<Item = (&'static Product, &'static Sku)> {
    products().flat_map(|product| product.skus.iter().map(move |sku| (product, sku)))
}

/// Finds a SKU and its product by the merchant's SKU code (`outer_sku_id`).
pub fn sku_by_outer_id(outer_sku_id: &str) -> Option<(&'static Product, &'static Sku)> {
    skus().find(|(_, sku)| sku.outer_sku_id == outer_sku_id)
}

impl Product {
    /// Returns the item price that TOP lists for the product: the lowest SKU price, in fen.
    pub fn price_fen(&self) -> i64 {
        self.skus.iter().map(|sku| sku.price_fen).min().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalog_ids_are_unique() {
        let products: Vec<&Product> = EVERYDAY_PRODUCTS.iter().chain(EXPENSIVE_PRODUCTS).collect();
        assert!(
            products.len() >= 20,
            "catalog has {} products",
            products.len()
        );

        let mut num_iids = HashSet::new();
        let mut sku_ids = HashSet::new();
        let mut outer_sku_ids = HashSet::new();
        for product in &products {
            assert!(
                num_iids.insert(product.num_iid),
                "duplicate num_iid {}",
                product.num_iid
            );
            assert!(!product.skus.is_empty(), "{} has no SKU", product.outer_iid);
            for sku in product.skus {
                assert!(
                    sku_ids.insert(sku.sku_id),
                    "duplicate sku_id {}",
                    sku.sku_id
                );
                assert!(
                    outer_sku_ids.insert(sku.outer_sku_id),
                    "duplicate {}",
                    sku.outer_sku_id
                );
                assert!(sku.outer_sku_id.starts_with(product.outer_iid));
            }
        }
    }

    #[test]
    fn price_bands_match_tables() {
        for sku in EVERYDAY_PRODUCTS.iter().flat_map(|product| product.skus) {
            assert!(
                sku.price_fen > 0 && sku.price_fen <= 49_900,
                "{}",
                sku.outer_sku_id
            );
        }
        for sku in EXPENSIVE_PRODUCTS.iter().flat_map(|product| product.skus) {
            assert!(sku.price_fen > 200_000, "{}", sku.outer_sku_id);
        }
    }

    #[test]
    fn regions_cover_twelve_provinces() {
        let states: HashSet<&str> = REGIONS.iter().map(|region| region.state).collect();
        assert!(states.len() >= 12, "only {} provinces", states.len());
        assert!(states.contains("新疆维吾尔自治区"));
        assert!(states.contains("西藏自治区"));
        for region in REGIONS {
            assert_eq!(region.zip.len(), 6, "{}", region.district);
            assert!(!region.streets.is_empty());
        }
    }
}
