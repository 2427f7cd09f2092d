"""The word list of verification codes: common, plain English words.

Five of them make a code. Words survive Roblox's text filter far better than random characters, which it
often hides as "####" (numbers in particular look like personal information to it). Place names, numbers,
anything that reads like contact details or a date were left out for the same reason.
"""

WORDS: tuple[str, ...] = tuple("""
apple river cloud garden yellow orange purple silver golden forest ocean island mountain valley meadow summer
winter autumn spring morning evening sunny rainy window pencil candle blanket pillow basket bottle bucket
button castle bridge tower market library village harbor planet rocket comet moon star sunset rainbow thunder
breeze puzzle marble carpet ladder lantern mirror saddle wagon bicycle engine tractor guitar piano violin
trumpet drum whistle banana cherry lemon mango melon peach pear plum grape carrot potato tomato pepper onion
pumpkin bread butter cheese honey cookie pancake waffle noodle pizza salad soup cereal muffin yogurt tiger
lion zebra giraffe panda koala rabbit turtle dolphin whale penguin parrot eagle falcon owl robin sparrow goose
duck swan beaver otter squirrel hamster kitten puppy pony horse donkey camel llama moose deer fox wolf bear
badger hedgehog frog lizard spider beetle ladybug butterfly dragonfly bee ant snail crab lobster shrimp
octopus jellyfish shark salmon tuna coral pebble sand shell wave tide lake pond stream canyon desert jungle
prairie glacier volcano cave cliff hill field farm barn fence gate path park bench fountain statue museum
paper notebook eraser crayon paint brush canvas camera clock watch compass map globe ticket coin pocket jacket
scarf glove mitten sock boot sandal hat helmet crown ribbon bow kite balloon candy popcorn pretzel sandwich
taco burrito dumpling rice bean pea corn wheat oat barley sugar salt cinnamon vanilla mint ginger garlic olive
almond walnut peanut coconut kiwi papaya lime berry blueberry strawberry raspberry cranberry apricot fig
blossom daisy tulip rose lily orchid sunflower violet cactus fern ivy maple oak pine willow birch cedar palm
bamboo moss leaf branch root seed acorn clover happy brave calm clever gentle jolly kind lucky quick quiet
proud shiny silly sleepy swift tidy warm wise red blue green pink brown gray teal navy amber ivory
""".split())
